/* Pier hosted checkout: progressive enhancement of server-rendered pages (works without it, except
   the hand-over of the result to the merchant page, which is a postMessage). */
(function () {
  'use strict';
  var el = document.getElementById('pier-data');
  if (!el) return;
  var data = JSON.parse(el.textContent || '{}');
  var en = data.lang === 'en';

  function showError(form, message, focusTarget) {
    var box = document.getElementById('error');
    if (!box) {
      box = document.createElement('div');
      box.id = 'error';
      box.className = 'error';
      box.setAttribute('role', 'alert');
      box.tabIndex = -1;
      form.insertBefore(box, form.firstChild);
    }
    box.innerHTML = '';
    var strong = document.createElement('strong');
    strong.textContent = en ? 'Please check' : '확인해 주세요';
    var p = document.createElement('p');
    p.textContent = message;
    box.appendChild(strong);
    box.appendChild(p);
    (focusTarget || box).focus();
  }

  if (data.page === 'checkout') {
    var form = document.querySelector('form.pay-form');
    var error = document.getElementById('error');
    if (error) error.focus();
    else {
      var first = document.querySelector('input[name="card_code"]:checked') || document.querySelector('input[name="card_code"]') || document.getElementById('agree');
      if (first) first.focus();
    }
    form.addEventListener('submit', function (e) {
      var radios = form.querySelectorAll('input[name="card_code"]');
      if (radios.length && !form.querySelector('input[name="card_code"]:checked')) {
        e.preventDefault();
        showError(form, en ? 'Choose a card company.' : '카드사를 선택해 주세요.', radios[0]);
        return;
      }
      var agree = document.getElementById('agree');
      if (agree && !agree.checked) {
        e.preventDefault();
        showError(form, en ? 'Please agree to the terms to continue.' : '결제를 진행하려면 약관에 동의해 주세요.', agree);
        return;
      }
      var pay = document.getElementById('pay');
      if (pay) {
        pay.disabled = true;
        pay.setAttribute('aria-busy', 'true');
      }
    });
    document.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') {
        var close = document.querySelector('form.close-form');
        if (close) close.submit();
      }
    });
  }

  if (data.page === 'to-pg') {
    var pg = document.getElementById('pg-form');
    if (pg) pg.submit();
  }

  // A PG whose window is opened by its own JS SDK (NICE AUTHNICE.requestPay): call it with the
  // connector's parameters. An SDK error, or an SDK that never loaded, goes back to the return URL
  // as a failed result, which Pier checks with the PG like any other.
  if (data.page === 'to-pg-script') {
    var errorForm = document.getElementById('pg-error-form');
    var fail = function (code, message) {
      errorForm.elements.authResultCode.value = String(code || 'SDK_ERROR');
      errorForm.elements.authResultMsg.value = String(message || '');
      errorForm.submit();
    };
    var path = String(data.call || '').split('.');
    var owner = window;
    for (var i = 0; i < path.length - 1 && owner; i++) owner = owner[path[i]];
    var fn = owner ? owner[path[path.length - 1]] : null;
    if (typeof fn !== 'function') {
      fail('SDK_LOAD', en ? 'The payment window could not be loaded.' : '결제창을 불러오지 못했습니다.');
    } else {
      var params = {};
      for (var k in data.params) if (Object.prototype.hasOwnProperty.call(data.params, k)) params[k] = data.params[k];
      params.fnError = function (r) {
        fail(r && r.resultCode, r && (r.errorMsg || r.msg));
      };
      fn.call(owner, params);
    }
  }

  if (data.page === 'result') {
    var target = data.mode === 'popup' ? window.opener : window.parent !== window ? window.parent : null;
    var sent = false;
    var send = function () {
      if (sent || !target || !data.origin) return;
      sent = true;
      target.postMessage({ from: 'pier-checkout', action: 'done', session: data.session, rsp: data.rsp }, data.origin);
    };
    var confirm = document.getElementById('confirm');
    if (data.hold && confirm) {
      confirm.disabled = false;
      confirm.focus();
      confirm.addEventListener('click', send);
      document.addEventListener('keydown', function (e) {
        if (e.key === 'Escape') send();
      });
    } else {
      var title = document.getElementById('result-title');
      if (title) title.focus();
      send();
    }
  }
  // tests (and anything else) can wait for this before relying on the script's behaviour
  document.documentElement.setAttribute('data-ready', '1');
})();
