/** KFTC codes (V1 `card_code`, `bank_code`, `vbank_code`) and how the PGs' own codes map to them. */

/**
 * KFTC bank codes and PortOne names (jtnet.md §3.2). NICE uses the same 3-digit codes for `bankCode`
 * and `vbankCode` (nicepay.md §8.13); tPay's own bank table is UNCONFIRMED.
 */
export const KFTC_BANKS: Readonly<Record<string, string>> = {
  '002': '산업은행',
  '003': '기업은행',
  '004': 'KB국민은행',
  '007': '수협',
  '011': '농협',
  '012': '축협',
  '020': '우리은행',
  '023': 'SC제일은행',
  '027': '한국씨티은행',
  '031': '대구은행',
  '032': '부산은행',
  '034': '광주은행',
  '037': '전북은행',
  '039': '경남은행',
  '045': '새마을금고',
  '048': '신협',
  '071': '우체국',
  '081': '하나은행',
  '088': '신한은행',
  '089': '케이뱅크',
  '090': '카카오뱅크',
  '092': '토스뱅크',
};

/**
 * NICE's 2-digit card company codes → KFTC codes as V1 `card_code` (spec nicepay.md §8.13, mapped
 * by name) and the names Pier shows as V1 `card_name`. Shared by the connectors: NICE documents
 * this list; tPay (a NICE company) answers the same 2-digit codes (its own table is unpublished),
 * so a merchant sees one code and name per card company whichever PG charged it.
 * 24 산은캐피탈 and 33 저축은행 have no confirmed KFTC code; points and money (31, 39–42, 46) are
 * not card companies: those keep the PG's own name.
 */
export const NICE_TO_KFTC: Readonly<Record<string, { code: string; name: string }>> = {
  '01': { code: '361', name: 'BC카드' },
  '02': { code: '381', name: 'KB국민카드' },
  '03': { code: '374', name: '하나카드' },
  '04': { code: '365', name: '삼성카드' },
  '06': { code: '366', name: '신한카드' },
  '07': { code: '367', name: '현대카드' },
  '08': { code: '368', name: '롯데카드' },
  '11': { code: '370', name: '씨티카드' },
  '12': { code: '371', name: 'NH농협카드' },
  '13': { code: '369', name: '수협' },
  '14': { code: '048', name: '신협' },
  '15': { code: '041', name: '우리카드' },
  '16': { code: '374', name: '하나카드' },
  '21': { code: '364', name: '광주은행' },
  '22': { code: '372', name: '전북은행' },
  '23': { code: '373', name: '제주은행' },
  '25': { code: '10005', name: '해외비자' },
  '26': { code: '10004', name: '해외마스터' },
  '27': { code: '10002', name: '해외다이너스' },
  '28': { code: '10003', name: '해외아멕스' },
  '29': { code: '10006', name: '해외JCB' },
  '32': { code: '071', name: '우체국' },
  '34': { code: '10001', name: '해외은련' },
  '35': { code: '045', name: '새마을금고' },
  '36': { code: '002', name: 'KDB산업은행' },
  '37': { code: '090', name: '카카오뱅크' },
  '38': { code: '089', name: '케이뱅크' },
};

/**
 * V1 `card_code` and `card_name` for a NICE card code; an unmapped code keeps NICE's name (without
 * the brackets regist answers carry, `[신한]`) and no KFTC code.
 */
export function mapNiceCardCode(niceCode: unknown, niceName: unknown): { cardCode: string | null; cardName: string | null } {
  const hit = typeof niceCode === 'string' ? NICE_TO_KFTC[niceCode] : undefined;
  if (hit) return { cardCode: hit.code, cardName: hit.name };
  const name = typeof niceName === 'string' ? niceName.replace(/^\[(.*)\]$/, '$1').trim() : '';
  return { cardCode: null, cardName: name || null };
}
