/* The demo shop's page script: what a merchant writes against the V1 SDK. */
(function () {
  'use strict';
  var body = document.body;
  var code = body.getAttribute('data-merchant-code');
  var products = JSON.parse(body.getAttribute('data-products') || '[]');
  var list = document.getElementById('products');
  var result = document.getElementById('result');
  var verification = document.getElementById('verification');
  var won = function (n) { return Number(n).toLocaleString('ko-KR') + '원'; };

  products.forEach(function (p, i) {
    var li = document.createElement('li');
    li.innerHTML = '<input type="radio" name="product" id="p-' + p.id + '" value="' + p.id + '"' + (i === 0 ? ' checked' : '') + '>' +
      '<label for="p-' + p.id + '"><span class="name"></span><span class="price"></span></label>';
    li.querySelector('.name').textContent = p.name + (p.subscription ? ' (정기)' : '');
    li.querySelector('.price').textContent = won(p.amount);
    list.appendChild(li);
  });

  function value(name) { var el = document.querySelector('input[name="' + name + '"]:checked'); return el ? el.value : null; }
  function text(tag, s, cls) { var el = document.createElement(tag); el.textContent = s; if (cls) el.className = cls; return el; }

  function showRsp(rsp) {
    result.innerHTML = '';
    result.appendChild(text('p', rsp.success ? '결제창 결과: 성공' : '결제창 결과: 실패', rsp.success ? 'ok' : 'fail'));
    if (!rsp.success) result.appendChild(text('p', (rsp.error_code ? '[' + rsp.error_code + '] ' : '') + (rsp.error_msg || ''), 'error-msg'));
    var pre = text('pre', JSON.stringify(rsp, null, 2));
    pre.id = 'rsp';
    result.appendChild(pre);
  }

  function verify(impUid, merchantUid) {
    verification.innerHTML = '';
    verification.appendChild(text('p', '서버에서 결제를 검증하는 중…', 'muted'));
    return fetch('/demo/api/verify', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ imp_uid: impUid, merchant_uid: merchantUid }) })
      .then(function (r) { return r.json(); })
      .then(function (v) {
        verification.innerHTML = '';
        var labels = { paid: '결제 완료 (금액 일치)', vbank_issued: '가상계좌 발급 (입금 대기, 금액 일치)', card_registered: '카드 등록 완료', failed: '결제 실패', ready: '미결제', forgery: '위조된 결제 시도: 주문과 금액이 다릅니다' };
        var h = text('h3', '서버 검증: ' + (labels[v.outcome] || v.message || v.outcome), v.verified && (v.outcome === 'paid' || v.outcome === 'vbank_issued' || v.outcome === 'card_registered') ? 'ok' : 'fail');
        h.id = 'verify-title';
        h.setAttribute('data-outcome', v.outcome || 'error');
        verification.appendChild(h);
        if (v.payment) {
          var dl = document.createElement('dl');
          [['imp_uid', v.payment.imp_uid], ['status', v.payment.status], ['amount', won(v.payment.amount)], ['order amount', v.order ? won(v.order.amount) : '-'],
           ['pay_method', v.payment.pay_method], ['channel', v.payment.channel], ['card', v.payment.card_name ? v.payment.card_name + ' ' + (v.payment.card_number || '') : null],
           ['bank', v.payment.bank_name], ['vbank', v.payment.vbank_num ? v.payment.vbank_name + ' ' + v.payment.vbank_num : null],
           ['customer_uid', v.payment.customer_uid], ['fail_reason', v.payment.fail_reason]].forEach(function (row) {
            if (row[1] === null || row[1] === undefined) return;
            var d = document.createElement('div');
            d.appendChild(text('dt', row[0]));
            d.appendChild(text('dd', String(row[1])));
            dl.appendChild(d);
          });
          verification.appendChild(dl);
        }
        if (v.outcome === 'vbank_issued') {
          var dep = document.createElement('button');
          dep.type = 'button';
          dep.id = 'deposit';
          dep.className = 'pay';
          dep.textContent = '입금하기 (시뮬레이터 은행)';
          dep.addEventListener('click', function () {
            dep.disabled = true;
            fetch('/demo/api/deposit', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ imp_uid: impUid }) })
              .then(function () { return verify(impUid, merchantUid); });
          });
          verification.appendChild(dep);
        }
      }, function () {
        verification.innerHTML = '';
        verification.appendChild(text('p', '검증 요청에 실패했습니다.', 'fail'));
      });
  }

  // Back from a redirect-mode window (mobile): the result is in the query string (spec §14.4).
  // Anyone can write that query (a link with imp_success=true), so this page never calls it a
  // success: only the server's verification below says what was paid (decision 0117).
  function showRedirectQuery(q) {
    var rsp = { imp_success: q.get('imp_success'), imp_uid: q.get('imp_uid') || null, merchant_uid: q.get('merchant_uid') };
    if (q.get('error_code')) rsp.error_code = q.get('error_code');
    if (q.get('error_msg')) rsp.error_msg = q.get('error_msg');
    result.innerHTML = '';
    if (rsp.imp_uid) result.appendChild(text('p', '결제창에서 돌아왔습니다. 결과는 아래 서버 검증을 따릅니다.', 'muted'));
    else result.appendChild(text('p', '결제창 결과: 결제되지 않음 (imp_uid 없음)', 'fail'));
    if (rsp.error_code || rsp.error_msg) result.appendChild(text('p', (rsp.error_code ? '[' + rsp.error_code + '] ' : '') + (rsp.error_msg || ''), 'error-msg'));
    var pre = text('pre', JSON.stringify(rsp, null, 2));
    pre.id = 'rsp';
    result.appendChild(pre);
    if (rsp.imp_uid) verify(rsp.imp_uid, rsp.merchant_uid);
  }
  var q = new URLSearchParams(location.search);
  if (location.pathname === '/demo/complete' && q.has('merchant_uid')) {
    showRedirectQuery(q);
    document.getElementById('result-title').scrollIntoView();
  }

  if (code) IMP.init(code);

  document.getElementById('pay').addEventListener('click', function () {
    var productId = value('product');
    var method = value('method');
    var mode = document.getElementById('mode').value;
    var billing = method === 'billing' || method === 'register';
    var payButton = this;
    payButton.disabled = true;
    result.innerHTML = '';
    verification.innerHTML = '';
    // browsers allow a popup for a few seconds after the click (user activation), enough for the order call
    var order = fetch('/demo/api/orders', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ product_id: productId, billing: method === 'billing', register_only: method === 'register' }) })
      .then(function (r) { return r.json(); });
    order.then(function (o) {
      if (!o.merchant_uid) throw new Error(o.error || 'order failed');
      var params = {
        pg: 'jtnet',
        pay_method: billing ? 'card' : method,
        merchant_uid: o.merchant_uid,
        name: o.name,
        amount: o.amount,
        buyer_name: document.getElementById('buyer_name').value,
        buyer_tel: document.getElementById('buyer_tel').value,
        buyer_email: document.getElementById('buyer_email').value,
        language: document.getElementById('language').value,
        m_redirect_url: location.origin + '/demo/complete',
        custom_data: { product: productId }
      };
      if (o.customer_uid) params.customer_uid = o.customer_uid;
      if (method === 'phone') params.digital = true;
      if (mode === 'popup') params.popup = true;
      if (mode === 'redirect') params.popup = false;
      if (mode === 'overlay') delete params.m_redirect_url;
      IMP.request_pay(params, function (rsp) {
        payButton.disabled = false;
        showRsp(rsp);
        if (rsp.imp_uid) verify(rsp.imp_uid, rsp.merchant_uid);
      });
    }).catch(function (e) {
      payButton.disabled = false;
      result.innerHTML = '';
      result.appendChild(text('p', '주문 생성 실패: ' + e.message, 'fail'));
    });
  });
})();
