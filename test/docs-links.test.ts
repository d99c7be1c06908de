/**
 * Every relative link in README.md and docs/ reaches a file that exists, and a `#anchor` on a
 * Markdown file one of its headings (slugged as GitHub does: lower case, punctuation dropped,
 * spaces to hyphens, a repeated heading suffixed -1, -2). Links inside code blocks are not links.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');

function markdownFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) return markdownFiles(path);
    return path.endsWith('.md') ? [path] : [];
  });
}

const withoutCode = (text: string) => text.replace(/```[\s\S]*?```/g, '');

function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>();
  const headings = withoutCode(readFileSync(file, 'utf8'))
    .split('\n')
    .filter((l) => /^#{1,6} /.test(l));
  return new Set(
    headings.map((line) => {
      const slug = line
        .replace(/^#+ /, '')
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/\s/g, '-');
      const n = seen.get(slug) ?? 0;
      seen.set(slug, n + 1);
      return n === 0 ? slug : `${slug}-${n}`;
    }),
  );
}

describe('relative links in README.md and docs/', () => {
  const files = ['README.md', ...markdownFiles('docs')];

  it.each(files)('%s', (file) => {
    const broken: string[] = [];
    let links = 0;
    for (const [, href] of withoutCode(readFileSync(join(root, file), 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(href)) continue; // https:, mailto:
      links++;
      const [path, anchor] = href.split('#');
      const target = path ? resolve(dirname(join(root, file)), path) : join(root, file);
      if (!existsSync(target)) broken.push(`${href} (no file ${relative(root, target)})`);
      else if (anchor && target.endsWith('.md') && !anchorsOf(target).has(anchor)) broken.push(`${href} (no heading #${anchor})`);
    }
    expect(broken).toEqual([]);
    if (file === 'README.md') expect(links).toBeGreaterThan(50);
  });
});
