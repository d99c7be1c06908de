// Pier console: progressive enhancement only. Every page and form works without this file; it adds
// confirmations, instant field validation (the server validates again) and copy buttons.
(function () {
  'use strict';
  var ko = document.documentElement.lang !== 'en';
  var MSG = ko
    ? { required: '필수 입력 항목입니다.', pattern: '형식이 올바르지 않습니다.', email: '올바른 이메일 주소가 아닙니다.', max: '취소 가능 잔액보다 큰 금액은 취소할 수 없습니다.', amount: '금액은 1원 이상의 정수로 입력하세요.', summary: '입력값을 확인하세요. 표시된 항목에 문제가 있습니다.', copied: '복사했습니다' }
    : { required: 'This field is required.', pattern: 'The format is not valid.', email: 'Not a valid e-mail address.', max: 'The amount is larger than the cancellable balance.', amount: 'Enter a whole number of won, 1 or more.', summary: 'Please check the marked fields.', copied: 'Copied' };

  function setError(input, message) {
    var box = input.closest('.field');
    if (!box) return;
    var err = box.querySelector('.err.client');
    if (!message) {
      box.classList.remove('has-error');
      input.removeAttribute('aria-invalid');
      if (err) err.remove();
      return;
    }
    box.classList.add('has-error');
    input.setAttribute('aria-invalid', 'true');
    if (!err) {
      err = document.createElement('small');
      err.className = 'err client';
      err.id = (input.id || input.name) + '-client-err';
      input.setAttribute('aria-describedby', err.id);
      box.appendChild(err);
    }
    err.textContent = message;
  }

  function check(form, input) {
    var v = (input.value || '').trim();
    var unless = input.getAttribute('data-required-unless');
    var unlessOn = unless && form.elements[unless] && form.elements[unless].checked;
    if ((input.required || (unless && !unlessOn)) && !v) return MSG.required;
    if (!v) return '';
    if (input.type === 'email' && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)) return MSG.email;
    if (input.name === 'amount') {
      var n = v.replace(/[,\s]/g, '');
      if (!/^\d+$/.test(n) || Number(n) <= 0) return MSG.amount;
      var max = input.getAttribute('data-max');
      if (max && Number(n) > Number(max)) return MSG.max;
    } else if (input.pattern && !new RegExp('^(?:' + input.pattern + ')$').test(v)) {
      return MSG.pattern;
    }
    return '';
  }

  document.addEventListener('submit', function (e) {
    var form = e.target;
    if (form.hasAttribute('data-validate')) {
      var first = null;
      Array.prototype.forEach.call(form.querySelectorAll('input:not([type=hidden]):not([type=checkbox]), select'), function (input) {
        if (input.disabled) return;
        var msg = check(form, input);
        setError(input, msg);
        if (msg && !first) first = input;
      });
      var summary = form.querySelector('.alert.client');
      if (first) {
        e.preventDefault();
        if (!summary) {
          summary = document.createElement('p');
          summary.className = 'alert error client';
          summary.setAttribute('role', 'alert');
          form.insertBefore(summary, form.firstChild);
        }
        summary.textContent = MSG.summary;
        first.focus();
        return;
      }
      if (summary) summary.remove();
    }
    var question = form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) e.preventDefault();
  });

  document.addEventListener('input', function (e) {
    var input = e.target;
    if (input.form && input.form.hasAttribute('data-validate') && input.closest('.field.has-error')) setError(input, check(input.form, input));
  });

  document.addEventListener('click', function (e) {
    var btn = e.target.closest && e.target.closest('[data-copy]');
    if (!btn) return;
    var el = document.querySelector(btn.getAttribute('data-copy'));
    if (el && navigator.clipboard) navigator.clipboard.writeText(el.textContent).then(function () { btn.textContent = MSG.copied; });
  });
})();
