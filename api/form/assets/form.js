// The agent's payment form. It follows one payment: a snapshot and then
// progress events over Server-Sent Events, and the agent's actions through
// the JSON API. It never sees a digit: only lengths, validity, a brand and
// the last four of a valid card number.
import { ApiError, Client } from './api.js';

const $ = (id) => document.getElementById(id);

const OPEN = new Set(['created', 'collecting', 'ready']);
const FINAL = new Set(['approved', 'declined', 'failed', 'cancelled', 'timed_out']);
const EVENT_TYPES = ['field_armed', 'field_length', 'field_complete', 'state', 'remaining', 'secure', 'agent_state', 'result', 'link'];
const LINK_STATES = {
  created: 'Link made, not sent yet', sent: 'Link sent', opened: 'The caller opened the link', paid: 'Paid with the link',
  expired: 'The link expired', cancelled: 'The link was cancelled', locked: 'The link is locked: too many failed attempts',
};
const BRANDS = {
  visa: 'Visa', mastercard: 'Mastercard', amex: 'American Express', discover: 'Discover',
  diners: 'Diners Club', jcb: 'JCB', maestro: 'Maestro', unionpay: 'UnionPay',
};
const CALL_ENDED = 'call ended';
// Reconnecting after the stream was refused is bounded: a few tries with a
// growing pause, then the form says so and stops.
const MAX_RETRIES = 6;

const ui = {};
const st = {
  id: '',
  client: null,
  es: null,
  view: null, // the last PaymentView+
  seq: 0, // the last event applied (Event.seq)
  fields: new Map(), // field id → {view, el, arm, dots, sub, mark, live, clear}
  fieldOrder: '',
  armed: '',
  state: '',
  reason: '',
  result: null,
  attrs: { amount: 0, currency: '', reference: '', cardholder_name: '' },
  // Which attributes the agent may edit, as the gateway says (the view's
  // agent_editable): what the back end set is read-only unless the
  // configuration opens it. The gateway refuses the rest whatever we show.
  editable: { amount: false, currency: false, reference: false, cardholder_name: false },
  streamOpen: false,
  callSecure: false,
  callEnded: false,
  deadlineAt: 0, // performance.now() of the session timeout; 0: none
  busy: false,
  retries: 0,
  fatal: false,
  // A digital payment: the caller pays on the hosted page; the form shows
  // the link, its state and the caller's progress. wantDigital: the agent
  // chose digital on a payment still waiting for its type.
  digital: false,
  wantDigital: false,
  link: null, // the view's link
  linkURL: '', // known when this form made or sent it
};

// Dots wait here for the next animation frame, which stamps them with the
// time they are drawn (data-drawn-at, ms since the epoch): the browser
// test measures key press → dot with it. One frame callback per batch.
const unstamped = [];
let stampPending = false;
function stampDots() {
  const t = performance.timeOrigin + performance.now();
  for (const d of unstamped) d.dataset.drawnAt = String(t);
  unstamped.length = 0;
  stampPending = false;
}

// epochMs reads an RFC 3339 time as ms since the epoch, keeping the
// fraction below a millisecond that Date.parse drops; 0 if it is not one.
function epochMs(s) {
  if (typeof s !== 'string') return 0;
  const m = /^(.+T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(s);
  if (!m) return 0;
  const whole = Date.parse(m[1] + m[3]);
  if (Number.isNaN(whole)) return 0;
  return whole + (m[2] ? Number(`0.${m[2]}`) * 1000 : 0);
}

function main() {
  for (const id of ['app', 'title', 'countdown', 'badge', 'badge-text', 'info', 'notice', 'picker', 'picker-list',
    'details', 'amount', 'amount-label', 'currency', 'reference', 'cardholder', 'card', 'fields', 'result', 'actions', 'process',
    'end', 'another', 'info-started', 'info-session', 'info-primary', 'info-secondary', 'info-caller',
    'info-called', 'info-agent', 'types', 'type-agent', 'type-digital', 'digital', 'digital-setup', 'phone', 'next',
    'digital-link', 'link-url', 'send', 'link-state', 'link-messages', 'link-badge', 'card-title', 'card-hint']) {
    ui[id] = $(id);
  }
  const parts = location.pathname.split('/');
  st.id = decodeURIComponent(parts[parts.length - 1] || '');
  const token = new URLSearchParams(location.hash.slice(1)).get('token') || '';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(st.id) || !token) {
    fatal('This form link is incomplete: it needs a payment and its token. Open the form again from the agent desktop.');
    return;
  }
  // The page is /form/{id}; the API is /v1/ beside /form/, wherever the
  // gateway is mounted.
  st.client = new Client(new URL('../v1/', location.href), token);

  ui.badge.addEventListener('click', toggleInfo);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !ui.info.hidden) {
      toggleInfo();
      ui.badge.focus();
    }
  });
  ui.process.addEventListener('click', () => act(() => st.client.process(st.id), 'Processing…'));
  ui.end.addEventListener('click', () => act(() => st.client.end(st.id)));
  ui.another.addEventListener('click', takeAnother);
  ui['type-agent'].addEventListener('click', () => {
    const v = st.view || {};
    const configs = Array.isArray(v.configurations) ? v.configurations : [];
    if (v.config_id) choose(v.config_id);
    else if (configs.length === 1) choose(configs[0].id);
    else { ui.types.hidden = true; renderPicker(configs); }
  });
  ui['type-digital'].addEventListener('click', () => {
    st.wantDigital = true;
    applyView(st.view, st.seq, false);
    ui.phone.focus();
  });
  ui.next.addEventListener('click', makeDigital);
  ui.send.addEventListener('click', () => act(() => st.client.sendLink(st.id, ui.phone.value.trim()), 'Sending the link…'));
  for (const [el, key] of [[ui.amount, 'amount'], [ui.currency, 'currency'], [ui.reference, 'reference'], [ui.cardholder, 'cardholder_name']]) {
    el.addEventListener('change', () => editAttribute(el, key));
  }
  setInterval(renderCountdown, 500);
  connect();
}

// ---- the event stream ------------------------------------------------

function connect() {
  const es = new EventSource(st.client.eventsURL(st.id));
  st.es = es;
  es.addEventListener('open', () => {
    st.streamOpen = true;
    st.retries = 0;
    renderBadge();
  });
  es.addEventListener('error', () => onStreamError(es));
  es.addEventListener('snapshot', (m) => {
    const v = parse(m);
    if (v) applyView(v, Number(m.lastEventId) || 0, true);
  });
  // A 'reset' says the stream could not replay from our last event. The
  // snapshot that follows it on the same stream is the payment afresh,
  // in order with the events after it, so there is nothing to fetch: a
  // read of our own could be answered before a key press that the
  // stream then shows, and arrive after it, taking the new dot off.
  for (const t of EVENT_TYPES) es.addEventListener(t, onEvent);
  // A newer stream of this token took this one's place (the form opened
  // again, in another tab): stop here, or the two would take turns
  // replacing each other.
  es.addEventListener('replaced', () => {
    if (es !== st.es) return;
    es.close();
    st.es = null;
    st.streamOpen = false;
    renderBadge();
    notice('This payment is open in another window, which now follows it. Reload this page to follow it here.');
  });
}

function parse(m) {
  try {
    return JSON.parse(m.data);
  } catch {
    return null;
  }
}

function onStreamError(es) {
  if (es !== st.es) return;
  st.streamOpen = false;
  renderBadge();
  if (FINAL.has(st.state) || st.callEnded) {
    // The stream ends after the payment's end and the call's: nothing
    // more will come.
    es.close();
    st.es = null;
    renderActions();
    return;
  }
  if (es.readyState !== EventSource.CLOSED) return; // the browser reconnects (Last-Event-ID)
  // Refused (an error status): ask the API why.
  es.close();
  st.es = null;
  st.client.payment(st.id).then((v) => {
    applyView(v, st.seq, false);
    retry();
  }, (err) => {
    if (err instanceof ApiError && (err.status === 401 || err.status === 404)) {
      fatal(err.message);
      return;
    }
    retry();
  });
}

function retry() {
  if (FINAL.has(st.state) || st.fatal) return;
  if (++st.retries > MAX_RETRIES) {
    notice('The connection to the gateway is lost. Reload the page to try again.');
    return;
  }
  setTimeout(connect, Math.min(30000, 500 * 2 ** st.retries));
}

function onEvent(m) {
  const e = parse(m);
  if (!e || !st.view) return;
  // A snapshot already holds every event up to its id: skip replays.
  if (e.seq && e.seq <= st.seq) return;
  if (e.seq) st.seq = e.seq;
  if (e.type === 'secure') {
    st.callSecure = !!e.secure;
    renderBadge();
    return;
  }
  if (e.payment_id && e.payment_id !== st.id) return;
  switch (e.type) {
    case 'field_armed':
      setArmed(e.field || '');
      break;
    case 'field_length': {
      const f = st.fields.get(e.field);
      if (f && e.confirming) {
        // The field is keyed twice: these are the second entry's dots.
        f.view.confirming = true;
        f.view.confirm_length = e.length || 0;
        renderField(f, epochMs(e.press_at));
        break;
      }
      if (f) {
        f.view.confirming = false;
        f.view.confirm_length = 0;
        if (e.mismatch) notice(`The two entries of ${f.view.label || f.view.id} differed: the caller keys it again.`);
        f.view.length = e.length || 0;
        f.view.complete = false;
        f.view.valid = false;
        f.view.masked_pan = '';
        if (f.view.kind === 'card_number') f.view.brand = e.brand || '';
        renderField(f, epochMs(e.press_at));
      }
      break;
    }
    case 'field_complete': {
      const f = st.fields.get(e.field);
      if (f) {
        // A field keyed twice that now matches: the mismatch is behind us.
        if (f.view.confirm && ui.notice.textContent.includes('differed')) notice('');
        f.view.confirming = false;
        f.view.confirm_length = 0;
        f.view.length = e.length || 0;
        f.view.complete = true;
        f.view.valid = !!e.valid;
        if (f.view.kind === 'card_number') {
          f.view.brand = e.brand || '';
          f.view.masked_pan = e.masked_pan || '';
        }
        renderField(f);
      }
      break;
    }
    case 'state':
      setState(e.state, e.reason || '');
      break;
    case 'result':
      if (e.result) st.result = e.result;
      setState((e.result && e.result.state) || e.state, st.reason);
      break;
    case 'remaining':
      setDeadline(e.remaining_seconds, e.deadline);
      break;
    case 'agent_state':
      ui['info-agent'].textContent = e.agent_state || '–';
      break;
    case 'link':
      if (e.link) {
        st.link = e.link;
        renderLink();
      }
      break;
  }
  renderActions();
}

// ---- the payment as a whole ---------------------------------------------

// applyView renders a PaymentView+ (a snapshot, an action's answer while
// the stream is down, a read after the stream was refused) whole. seq is
// the last event it includes.
// Only a snapshot says whether the call is secure: it is in order with the
// events, where an answer may be older than an event already shown.
function applyView(v, seq, snapshot) {
  if (!v || v.id !== st.id) return;
  st.view = v;
  st.seq = Math.max(st.seq, seq || 0);
  ui.app.setAttribute('aria-busy', 'false');
  st.attrs = { amount: 0, currency: '', reference: '', cardholder_name: '', ...(v.attributes || {}) };
  st.editable = editableOf(v);
  if (v.result) st.result = v.result;
  const call = v.call || {};
  if (snapshot && typeof call.secure === 'boolean') st.callSecure = call.secure;
  renderInfo(v);
  const configs = Array.isArray(v.configurations) ? v.configurations : [];
  st.digital = v.type === 'digital';
  if (v.link) st.link = snapshot ? v.link : mergeLink(st.link, v.link);
  // A payment waiting for its type (its configuration allows both) asks
  // first; "digital" then shows the amount and the caller's number.
  const typing = !v.type && Array.isArray(v.types) && v.types.length > 1 && OPEN.has(v.state);
  ui.types.hidden = !typing || st.wantDigital;
  const setup = typing && st.wantDigital;
  const choosing = !typing && !st.digital && !v.config_id && configs.length > 0;
  renderPicker(choosing ? configs : []);
  if (!choosing && !typing) buildFields(v.fields || []);
  ui.details.hidden = choosing || (typing && !setup);
  ui.card.hidden = choosing || typing;
  ui.digital.hidden = !(st.digital || setup);
  ui['digital-setup'].hidden = !setup;
  ui['digital-link'].hidden = !st.digital;
  ui['card-title'].textContent = st.digital ? "Caller's page" : "Caller's keypad";
  ui['card-hint'].hidden = st.digital;
  if (setup && !ui.phone.value) ui.phone.value = (v.call && v.call.caller_number) || '';
  if (st.digital) {
    // A link lasts days, not the keypad session's minutes: no countdown.
    st.deadlineAt = 0;
    if (st.link && st.link.phone && document.activeElement !== ui.phone) ui.phone.value = st.link.phone;
    renderLink();
  }
  ui.actions.hidden = false;
  renderAttributes();
  if (OPEN.has(v.state) && v.remaining_seconds > 0) setDeadline(v.remaining_seconds, v.deadline);
  let armed = '';
  for (const f of v.fields || []) if (f.armed) armed = f.id;
  setArmed(armed);
  setState(v.state, v.reason || '');
  renderActions();
}

// applyAnswer renders an action's answer. While the stream is live its
// events say what the action changed, in order; the answer, which may
// have been written before the caller's latest key press was shown, adds
// only what no event tells: the attributes, the fields of a configuration
// just chosen, and a final state.
function applyAnswer(v) {
  if (!v || v.id !== st.id) return;
  const order = (v.fields || []).map((f) => `${f.id}:${f.kind}`).join(',');
  if (!st.streamOpen || !st.view || order !== st.fieldOrder || v.type !== st.view.type || v.link) {
    applyView(v, st.seq, false);
    return;
  }
  st.attrs = { amount: 0, currency: '', reference: '', cardholder_name: '', ...(v.attributes || {}) };
  st.editable = editableOf(v);
  renderAttributes();
  if (v.result) st.result = v.result;
  if (FINAL.has(v.state) || v.state === 'reconciling') setState(v.state, v.reason || '');
  renderActions();
}

// editableOf reads a view's agent_editable: the attributes the form token
// may change now.
function editableOf(v) {
  const list = Array.isArray(v.agent_editable) ? v.agent_editable : [];
  return {
    amount: list.includes('amount'),
    currency: list.includes('currency'),
    reference: list.includes('reference'),
    cardholder_name: list.includes('cardholder_name'),
  };
}

function setState(state, reason) {
  if (!state) return;
  st.state = state;
  st.reason = reason;
  if (reason === CALL_ENDED || (st.result && st.result.reason === CALL_ENDED)) st.callEnded = true;
  if (!OPEN.has(state)) {
    st.deadlineAt = 0;
    setArmed('');
  }
  renderResult();
  renderBadge();
  renderCountdown();
  renderActions();
}

function setDeadline(remaining, deadline) {
  if (typeof remaining === 'number' && remaining > 0) {
    // The gateway's count, on our monotonic clock: the two machines'
    // wall clocks need not agree.
    st.deadlineAt = performance.now() + remaining * 1000;
  } else if (deadline) {
    const t = Date.parse(deadline);
    if (!Number.isNaN(t)) st.deadlineAt = performance.now() + (t - Date.now());
  }
  renderCountdown();
}

// ---- rendering ------------------------------------------------------------

function renderInfo(v) {
  const call = v.call || {};
  const started = call.started ? new Date(call.started) : null;
  ui['info-started'].textContent = started && !Number.isNaN(started.getTime()) ? started.toLocaleString() : '–';
  ui['info-session'].textContent = v.web_session_id || v.id || '–';
  ui['info-primary'].textContent = call.primary_call_id || '–';
  ui['info-secondary'].textContent = call.secondary_call_id || '–';
  ui['info-caller'].textContent = call.caller_number || '–';
  ui['info-called'].textContent = call.called_number || '–';
}

function toggleInfo() {
  const open = ui.info.hidden;
  ui.info.hidden = !open;
  ui.badge.setAttribute('aria-expanded', String(open));
}

// The badge is green only while the call is secure, the stream is live
// (else we would not hear that it stopped being so) and the call goes on.
function renderBadge() {
  const secure = st.streamOpen && st.callSecure && !st.callEnded;
  ui.badge.classList.toggle('secure', secure);
  ui.badge.classList.toggle('insecure', !secure);
  let text = secure ? 'Secure' : 'Not secure';
  if (!st.view && !st.callEnded) text = st.streamOpen ? 'Not secure' : 'Connecting…';
  if (st.callEnded) text = 'Call ended';
  ui['badge-text'].textContent = text;
  ui.badge.dataset.secure = String(secure);
  ui.badge.setAttribute('aria-label', `${text}: session information`);
}

function renderPicker(configs) {
  ui.picker.hidden = configs.length === 0;
  ui['picker-list'].replaceChildren();
  if (configs.length === 0) return;
  if (configs.length === 1 && !st.busy) {
    // Only one to choose: choose it.
    choose(configs[0].id);
    return;
  }
  for (const c of configs) {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.config = c.id;
    b.textContent = c.name || c.id;
    b.addEventListener('click', () => choose(c.id));
    ui['picker-list'].append(b);
  }
  const first = ui['picker-list'].querySelector('button');
  if (first && !ui.app.contains(document.activeElement)) first.focus();
}

function choose(configId) {
  act(() => st.client.chooseConfiguration(st.id, configId));
}

function buildFields(fields) {
  const order = fields.map((f) => `${f.id}:${f.kind}`).join(',');
  if (order === st.fieldOrder) {
    for (const fv of fields) {
      const f = st.fields.get(fv.id);
      f.view = { ...fv };
      renderField(f);
    }
    return;
  }
  st.fieldOrder = order;
  st.fields.clear();
  ui.fields.replaceChildren();
  for (const fv of fields) {
    const li = document.createElement('li');
    li.className = 'field';
    li.dataset.field = fv.id;

    const arm = document.createElement('button');
    arm.type = 'button';
    arm.className = 'arm';
    arm.setAttribute('aria-pressed', 'false');
    const label = document.createElement('span');
    label.className = 'label';
    label.id = `label-${fv.id}`;
    label.textContent = fv.label || fv.id;
    if (fv.required) {
      const req = document.createElement('span');
      req.className = 'req';
      req.setAttribute('aria-hidden', 'true');
      req.textContent = '*';
      const vh = document.createElement('span');
      vh.className = 'vh';
      vh.textContent = ' (required)';
      label.append(req, vh);
    }
    const dots = document.createElement('span');
    dots.className = 'dots';
    dots.setAttribute('aria-hidden', 'true');
    const sub = document.createElement('span');
    sub.className = 'sub';
    const mark = document.createElement('span');
    mark.className = 'mark';
    mark.setAttribute('aria-hidden', 'true');
    arm.append(label, dots, sub, mark);

    // What the dots say, for a screen reader: the count, then the check.
    const live = document.createElement('span');
    live.className = 'vh';
    live.id = `live-${fv.id}`;
    live.setAttribute('aria-live', 'polite');
    arm.setAttribute('aria-describedby', live.id);

    const clear = document.createElement('button');
    clear.type = 'button';
    clear.className = 'clear';
    clear.textContent = 'Clear';
    clear.setAttribute('aria-label', `Clear ${fv.label || fv.id}`);

    li.append(arm, clear, live);
    ui.fields.append(li);
    const f = { view: { ...fv }, el: li, arm, dots, sub, mark, live, clear };
    arm.addEventListener('click', () => {
      if (st.armed !== fv.id) act(() => st.client.arm(st.id, fv.id));
    });
    clear.addEventListener('click', () => act(() => st.client.clear(st.id, fv.id)));
    st.fields.set(fv.id, f);
    renderField(f);
  }
}

// renderField draws a field. pressAt, from a field_length event, is when
// the key press that added the newest dot reached the gateway (ms since
// the epoch): that dot carries it as data-press-at beside data-drawn-at.
function renderField(f, pressAt) {
  const v = f.view;
  // While a field keyed twice takes its second entry, its dots are that
  // entry's.
  const n = Math.max(0, Math.min(64, (v.confirming ? v.confirm_length : v.length) | 0));
  const have = f.dots.childElementCount;
  if (n > have) {
    for (let i = have; i < n; i++) {
      const d = document.createElement('span');
      d.className = 'dot';
      if (pressAt && i === n - 1) d.dataset.pressAt = String(pressAt);
      f.dots.append(d);
      unstamped.push(d);
    }
    if (!stampPending) {
      stampPending = true;
      requestAnimationFrame(stampDots);
    }
  } else {
    while (f.dots.childElementCount > n) f.dots.lastElementChild.remove();
  }
  f.el.dataset.length = String(n);
  f.el.dataset.confirming = String(!!v.confirming);
  f.el.dataset.complete = String(!!v.complete);
  f.el.dataset.valid = String(!!(v.complete && v.valid));

  let markText = '';
  let markClass = 'mark';
  if (v.complete) {
    markText = v.valid ? '✓' : '✗';
    markClass += v.valid ? ' ok' : ' bad';
  }
  f.mark.textContent = markText;
  f.mark.className = markClass;

  const brand = v.kind === 'card_number' && v.brand && v.brand !== 'unknown' ? (BRANDS[v.brand] || v.brand) : '';
  f.el.dataset.brand = brand ? v.brand : '';
  const sub = [];
  f.sub.replaceChildren();
  if (brand) {
    const b = document.createElement('span');
    b.className = 'brand';
    b.textContent = brand;
    f.sub.append(b);
  }
  if (v.masked_pan) sub.push(v.masked_pan);
  if (v.complete && !v.valid) sub.push(v.kind === 'card_number' && brand && v.length >= 12 ? 'Not accepted or not valid: clear and key again' : 'Not valid: clear and key again');
  else if (v.confirming) sub.push(`Keyed once (${v.length | 0} digits): ask the caller to key it again`);
  else if (st.armed === v.id) sub.push(n === 0 ? 'Listening: ask the caller to key it in' + (v.confirm ? ', then again' : '') : 'Listening…');
  if (sub.length) f.sub.append(document.createTextNode(sub.join(' · ')));

  const words = [`${n} ${n === 1 ? 'digit' : 'digits'}`];
  if (brand) words.push(brand);
  if (v.complete) words.push(v.valid ? 'complete and valid' : 'complete, not valid');
  f.live.textContent = words.join(', ');

  const open = OPEN.has(st.state);
  f.arm.disabled = !open;
  f.clear.disabled = !open || (n === 0 && !v.complete);
}

function setArmed(id) {
  st.armed = id;
  for (const f of st.fields.values()) {
    const on = f.view.id === id;
    f.view.armed = on;
    f.arm.setAttribute('aria-pressed', String(on));
    f.el.classList.toggle('armed', on);
    renderField(f);
  }
}

function renderAttributes() {
  const a = st.attrs;
  const exp = exponent(a.currency);
  // A card saved has no amount to show or ask for.
  ui.amount.hidden = ui['amount-label'].hidden = saving();
  ui.process.textContent = saving() ? 'Save card' : 'Process Transaction';
  setInput(ui.amount, a.amount > 0 ? formatAmount(a.amount, exp) : '', st.editable.amount);
  setInput(ui.currency, a.currency || '', st.editable.currency);
  setInput(ui.reference, a.reference || '', st.editable.reference);
  setInput(ui.cardholder, a.cardholder_name || '', st.editable.cardholder_name);
}

function setInput(el, value, editable) {
  const open = OPEN.has(st.state) || !st.state;
  el.readOnly = !editable || !open;
  if (document.activeElement !== el || el.readOnly) el.value = value;
  el.removeAttribute('aria-invalid');
}

function renderResult() {
  const r = st.result;
  const s = st.state;
  let cls = '';
  let outcome = '';
  let detail = '';
  switch (s) {
    case 'processing':
      cls = 'pending'; outcome = 'Processing…'; detail = 'Waiting for the payment processor.';
      break;
    case 'approved':
      if (saving()) {
        // A card saved: nothing was charged, so no amount; the token is
        // what later charges name the card by.
        cls = 'approved'; outcome = 'Card saved';
        detail = [r && r.brand ? BRANDS[r.brand] || r.brand : '', r && r.last4 ? `•••• ${r.last4}` : '',
          r && r.token ? `Token ${r.token}` : ''].filter(Boolean).join(' · ');
        break;
      }
      cls = 'approved'; outcome = 'Approved';
      detail = [r && r.brand ? BRANDS[r.brand] || r.brand : '', r && r.last4 ? `•••• ${r.last4}` : '',
        r ? formatMoney(r.amount, r.currency) : '', r && r.processor_reference ? `Reference ${r.processor_reference}` : '']
        .filter(Boolean).join(' · ');
      break;
    case 'declined':
      cls = 'declined'; outcome = 'Declined';
      detail = (r && (r.message || r.decline_code)) || 'The card was refused.';
      break;
    case 'failed':
      cls = 'failed'; outcome = 'Failed';
      detail = (r && (r.message || r.reason)) || 'The payment was not made.';
      break;
    case 'reconciling':
      cls = 'pending'; outcome = 'Outcome pending';
      detail = 'The processor did not answer in time; the gateway is checking whether the card was charged. Do not take the payment again.';
      break;
    case 'cancelled':
      cls = 'ended'; outcome = 'Session ended';
      detail = st.reason === CALL_ENDED || (r && r.reason === CALL_ENDED) ? 'The call ended.' : 'No payment was taken.';
      break;
    case 'timed_out':
      cls = 'ended'; outcome = 'Timed out';
      detail = 'The session timed out; no payment was taken.';
      break;
  }
  ui.result.hidden = !outcome;
  ui.result.className = `result ${cls}`;
  ui.result.dataset.state = s || '';
  if (!outcome) {
    ui.result.replaceChildren();
    return;
  }
  const o = document.createElement('span');
  o.className = 'outcome';
  o.textContent = outcome;
  const d = document.createElement('span');
  d.className = 'detail';
  d.textContent = detail;
  ui.result.replaceChildren(o, d);
}

function renderCountdown() {
  if (!st.deadlineAt || !OPEN.has(st.state)) {
    ui.countdown.hidden = true;
    return;
  }
  const left = Math.max(0, Math.ceil((st.deadlineAt - performance.now()) / 1000));
  const text = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
  ui.countdown.hidden = false;
  if (ui.countdown.textContent !== text) ui.countdown.textContent = text;
  ui.countdown.dataset.remaining = String(left);
  ui.countdown.classList.toggle('low', left <= 60);
}

// Process needs every required field complete and valid, an amount and
// a currency, and a payment still open (the API checks it all again).
function canProcess() {
  if (!OPEN.has(st.state) || st.fields.size === 0) return false;
  for (const f of st.fields.values()) {
    if (f.view.required && !(f.view.complete && f.view.valid)) return false;
  }
  return (st.attrs.amount > 0 || saving()) && /^[A-Z]{3}$/.test(st.attrs.currency || '');
}

// saving reports whether the payment saves the card instead of charging
// it (intent tokenize): it has no amount.
function saving() {
  return !!st.view && st.view.intent === 'tokenize';
}

function renderActions() {
  const open = OPEN.has(st.state);
  ui.process.disabled = st.busy || !canProcess();
  ui.process.hidden = st.digital;
  ui.end.textContent = st.digital ? 'Cancel link' : 'End session';
  ui.next.disabled = st.busy;
  ui.send.disabled = st.busy || !st.link || ['paid', 'expired', 'cancelled', 'locked'].includes(st.link.state);
  ui.end.hidden = !(open || st.state === 'processing' || !st.state);
  ui.end.disabled = st.busy || !open;
  ui.another.hidden = !FINAL.has(st.state) || st.callEnded;
  ui.another.disabled = st.busy;
  for (const f of st.fields.values()) {
    // The caller types a digital payment's card on the page: nothing to
    // arm or clear here.
    f.arm.disabled = !open || st.digital;
    f.clear.hidden = st.digital;
    f.clear.disabled = !open || st.digital || (f.view.length === 0 && !f.view.complete);
  }
}

// renderLink shows a digital payment's link: its URL (when this form made
// or sent it), its state, the SMS sent, and the badge that is green while
// the caller has the page open.
function renderLink() {
  const l = st.link;
  if (!l) return;
  ui['link-url'].value = st.linkURL || 'Shown when the link is made or sent from this form';
  const present = !!l.present && !['paid', 'expired', 'cancelled', 'locked'].includes(l.state);
  ui['link-badge'].dataset.present = String(present);
  ui['link-badge'].textContent = present ? 'Digital · caller on the page' : 'Digital';
  let text = LINK_STATES[l.state] || l.state;
  if (l.failed_attempts > 0 && l.state !== 'paid') text += ` · ${l.failed_attempts} of ${l.max_attempts} attempts failed`;
  if (l.last_attempt && l.last_attempt.outcome && !['paid'].includes(l.state)) text += ` · last attempt ${l.last_attempt.outcome}`;
  if (l.expires && !['paid', 'expired', 'cancelled', 'locked'].includes(l.state)) {
    const d = new Date(l.expires);
    if (!Number.isNaN(d.getTime())) text += ` · valid until ${d.toLocaleString()}`;
  }
  ui['link-state'].textContent = text;
  ui['link-state'].dataset.state = l.state;
  const items = (l.messages || []).map((m) => {
    const li = document.createElement('li');
    li.dataset.state = m.state;
    li.textContent = `SMS to ${m.to}: ${m.state}${m.error_code ? ` (${m.error_code})` : ''}`;
    return li;
  });
  ui['link-messages'].replaceChildren(...items);
  renderActions();
}

// An action's answer may have been written before an event the stream
// has shown already (an SMS delivered while the send was answered):
// mergeLink keeps, of the two, the further state of the link and of each
// message.
const LINK_RANK = { created: 0, sent: 1, opened: 2, paid: 3, expired: 3, cancelled: 3, locked: 3 };
const MESSAGE_RANK = { queued: 0, sent: 1, failed: 1 };
function mergeLink(seen, answer) {
  if (!seen) return answer;
  const out = { ...answer };
  if ((LINK_RANK[seen.state] || 0) > (LINK_RANK[answer.state] || 0)) out.state = seen.state;
  out.present = seen.present;
  out.failed_attempts = Math.max(seen.failed_attempts || 0, answer.failed_attempts || 0);
  const known = new Map((seen.messages || []).map((m) => [m.id, m]));
  out.messages = (answer.messages || []).map((m) => {
    const k = known.get(m.id);
    return k && (MESSAGE_RANK[k.state] || 0) > (MESSAGE_RANK[m.state] || 0) ? k : m;
  });
  return out;
}

// makeDigital makes the waiting payment a digital one ("Next"): its link
// is answered, and shown for the agent to send.
async function makeDigital() {
  const phone = ui.phone.value.trim();
  if (phone && !/^\+?[0-9 ().-]{8,24}$/.test(phone)) {
    ui.phone.setAttribute('aria-invalid', 'true');
    notice('The number is in international format, such as +447700900123.');
    ui.phone.focus();
    return;
  }
  ui.phone.removeAttribute('aria-invalid');
  await act(() => st.client.makeDigital(st.id, { phone }));
}

// ---- actions ---------------------------------------------------------------

// act runs one API call at a time and renders its answer (a PaymentView+).
async function act(fn, pending) {
  if (st.busy) return;
  st.busy = true;
  notice('');
  if (pending) {
    ui.result.hidden = false;
    ui.result.className = 'result pending';
    ui.result.textContent = pending;
  }
  renderActions();
  try {
    const v = await fn();
    st.busy = false;
    if (v && v.link && v.link.url) st.linkURL = v.link.url;
    if (v) applyAnswer(v.payment || v);
  } catch (err) {
    st.busy = false;
    notice(err.message || String(err));
    renderResult();
    if (err instanceof ApiError && err.code === 'field_not_editable') {
      // The back end set the value since we last looked: show it, read-only.
      st.client.payment(st.id).then((v) => applyView(v, st.seq, false), () => {});
    }
  } finally {
    st.busy = false;
    renderActions();
  }
}

async function editAttribute(el, key) {
  let value = el.value.trim();
  if (key === 'amount') {
    const minor = parseAmount(value, exponent(st.attrs.currency));
    if (minor === null) {
      el.setAttribute('aria-invalid', 'true');
      notice('The amount is a number such as 12.50.');
      return;
    }
    value = minor;
  } else if (key === 'currency') {
    value = value.toUpperCase();
    if (value && !/^[A-Z]{3}$/.test(value)) {
      el.setAttribute('aria-invalid', 'true');
      notice('The currency is a three-letter code such as GBP.');
      return;
    }
  }
  el.removeAttribute('aria-invalid');
  await act(() => st.client.patch(st.id, { [key]: value }));
}

async function takeAnother() {
  if (st.busy) return;
  st.busy = true;
  renderActions();
  try {
    const r = await st.client.another(st.id);
    const id = r && r.payment && r.payment.id;
    if (!id || !r.form_token) throw new Error('The gateway did not return the new payment.');
    // The new payment's page: /form/{new id}, its token in the fragment.
    location.assign(new URL(`${encodeURIComponent(id)}#token=${encodeURIComponent(r.form_token)}`, location.href));
  } catch (err) {
    notice(err.message || String(err));
    st.busy = false;
    renderActions();
  }
}

// ---- helpers ---------------------------------------------------------------

function notice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = !text;
}

function fatal(text) {
  st.fatal = true;
  if (st.es) st.es.close();
  st.es = null;
  st.streamOpen = false;
  ui.app.setAttribute('aria-busy', 'false');
  for (const k of ['picker', 'details', 'card', 'actions', 'countdown', 'info']) ui[k].hidden = true;
  notice(text);
  renderBadge();
}

// exponent is the currency's minor-unit digits (2 for GBP, 0 for JPY).
function exponent(currency) {
  if (!/^[A-Z]{3}$/.test(currency || '')) return 2;
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

function parseAmount(text, exp) {
  const m = /^(\d{1,12})(?:[.,](\d+))?$/.exec(text);
  if (!m) return null;
  const frac = m[2] || '';
  if (frac.length > exp) return null;
  const minor = Number(m[1]) * 10 ** exp + Number(frac.padEnd(exp, '0') || 0);
  return Number.isSafeInteger(minor) && minor > 0 ? minor : null;
}

function formatAmount(minor, exp) {
  if (exp === 0) return String(minor);
  const s = String(minor).padStart(exp + 1, '0');
  return `${s.slice(0, -exp)}.${s.slice(-exp)}`;
}

function formatMoney(minor, currency) {
  if (!(minor > 0) || !currency) return '';
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(minor / 10 ** exponent(currency));
  } catch {
    return `${formatAmount(minor, exponent(currency))} ${currency}`;
  }
}

main();
