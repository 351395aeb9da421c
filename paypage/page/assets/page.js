// The hosted payment page. The caller opens https://host/pay/#<token>
// from a text message; this script reads the token from the fragment
// (which the browser never sends), drops it from the address bar, and
// from then on sends it only as a bearer token to /pay/api/. It shows the
// payment, checks the card as it is typed with the same rules as the
// gateway (package payment's card.go), tells the gateway each field's
// LENGTH as the caller types (the agent's form draws dots; never a
// character) and the caller's presence, and submits the card.
//
// The page runs under a Content-Security-Policy that requires Trusted
// Types and allows none: the DOM is built with createElement and
// textContent only, never innerHTML, and nothing is evaluated.

// ---- Card rules: the same as payment/card.go (a browser test compares
// them over every prefix and a table of cases). ----

/** IIN ranges: [lo, hi, digits, brand], disjoint; brandRules in card.go. */
const BRAND_RULES = [
  [4, 4, 1, 'visa'],
  [51, 55, 2, 'mastercard'],
  [2221, 2720, 4, 'mastercard'],
  [34, 34, 2, 'amex'],
  [37, 37, 2, 'amex'],
  [6011, 6011, 4, 'discover'],
  [644, 649, 3, 'discover'],
  [65, 65, 2, 'discover'],
  [300, 305, 3, 'diners'],
  [36, 36, 2, 'diners'],
  [38, 39, 2, 'diners'],
  [3528, 3589, 4, 'jcb'],
  [50, 50, 2, 'maestro'],
  [56, 58, 2, 'maestro'],
  [6304, 6304, 4, 'maestro'],
  [6390, 6390, 4, 'maestro'],
  [67, 67, 2, 'maestro'],
  [62, 62, 2, 'unionpay'],
];

const range = (lo, hi) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

/** The card-number lengths each brand issues; brandLengths in card.go. */
const BRAND_LENGTHS = {
  visa: [13, 16, 19],
  mastercard: [16],
  amex: [15],
  discover: range(16, 19),
  diners: range(14, 19),
  jcb: range(16, 19),
  maestro: range(12, 19),
  unionpay: range(16, 19),
};

export const BRAND_NAMES = {
  visa: 'Visa', mastercard: 'Mastercard', amex: 'American Express', discover: 'Discover',
  diners: 'Diners Club', jcb: 'JCB', maestro: 'Maestro', unionpay: 'UnionPay',
};

/** The longest card number of any brand (ISO/IEC 7812-1 as the schemes issue). */
const MAX_PAN = 19;
/** How far ahead an expiry date may lie; MaxExpiryYears in card.go. */
const MAX_EXPIRY_YEARS = 20;

/** The brand of a card number, or of its first digits as typed: '' until they tell. */
export function brandOf(digits) {
  for (const [lo, hi, n, brand] of BRAND_RULES) {
    if (digits.length >= n) {
      const v = Number(digits.slice(0, n));
      if (v >= lo && v <= hi) return brand;
    }
  }
  return '';
}

/** Whether the brand issues card numbers of n digits. */
export function validLength(brand, n) {
  const l = BRAND_LENGTHS[brand];
  return !!l && l.includes(n);
}

/** The longest card number the brand issues (MAX_PAN when unknown). */
export function maxLength(brand) {
  const l = BRAND_LENGTHS[brand];
  return l ? l[l.length - 1] : MAX_PAN;
}

/** The Luhn (mod 10) check of ISO/IEC 7812-1 Annex B; anything but digits fails. */
export function luhn(digits) {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** The length of the brand's security code: 4 for American Express, 3 for the others, 0 unknown. */
export function securityCodeLen(brand) {
  if (brand === 'amex') return 4;
  return brand ? 3 : 0;
}

/** Whether code is a security code of the brand's length (3 or 4 when the brand is unknown). */
export function validSecurityCode(code, brand) {
  if (!/^\d*$/.test(code)) return false;
  const want = securityCodeLen(brand);
  return want ? code.length === want : code.length === 3 || code.length === 4;
}

/** Reads MMYY: {month, year} with the year's century nearest now, or null. ExpiryOf in card.go. */
export function expiryOf(mmyy, now) {
  if (!/^\d{4}$/.test(mmyy)) return null;
  const month = Number(mmyy.slice(0, 2));
  const yy = Number(mmyy.slice(2));
  if (month < 1 || month > 12) return null;
  const cur = now.getFullYear();
  let year = Math.floor(cur / 100) * 100 + yy;
  if (year < cur - 50) year += 100;
  else if (year >= cur + 50) year -= 100;
  return { month, year };
}

/** Whether MMYY is not past (a card is good through its month) and not too far ahead. ValidExpiry. */
export function validExpiry(mmyy, now) {
  const e = expiryOf(mmyy, now);
  if (!e) return false;
  const card = e.year * 12 + e.month - 1;
  const cur = now.getFullYear() * 12 + now.getMonth();
  return card >= cur && card <= cur + MAX_EXPIRY_YEARS * 12;
}

// ---- The gateway's API. The token goes in a header, never in a URL:
// every path below is a constant. ----

const API_BASE = new URL('api/', document.baseURI);

class ApiError extends Error {
  constructor(status, code, message, payment) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.payment = payment || null;
  }
}

class Api {
  constructor(token) {
    this.token = token;
    this.csrf = '';
  }

  /** GET /pay/api/session: the payment's view and the CSRF token of the POSTs. */
  async session() {
    const s = await this.request('GET', 'session');
    this.csrf = (s && s.csrf) || '';
    return s.payment;
  }

  progress(field, length) { return this.request('POST', 'progress', { field, length }); }
  presence(present, keepalive = false) { return this.request('POST', 'presence', { present }, keepalive); }
  pay(fields, name) {
    const body = { fields };
    if (name !== undefined) body.cardholder_name = name;
    return this.request('POST', 'pay', body);
  }

  /**
   * Sends one request; the decoded JSON answer, or an ApiError. A POST
   * refused for its CSRF token (the gateway restarted) fetches a new one
   * and is sent once more.
   */
  async request(method, path, body, keepalive = false, again = true) {
    const headers = { Authorization: `Bearer ${this.token}`, Accept: 'application/json' };
    const init = {
      method, headers, keepalive,
      cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer', redirect: 'error',
    };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['X-CSRF-Token'] = this.csrf;
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(new URL(path, API_BASE), init);
    } catch {
      throw new ApiError(0, 'network', 'The payment service cannot be reached. Check your connection and try again.');
    }
    if (res.status === 204) return null;
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    if (res.ok) return data;
    const e = (data && data.error) || {};
    if (res.status === 403 && e.code === 'bad_csrf' && again && body !== undefined) {
      await this.session();
      return this.request(method, path, body, keepalive, false);
    }
    throw new ApiError(res.status, e.code || `http_${res.status}`,
      e.message || 'Something went wrong. Please try again in a moment.', data && data.payment);
  }
}

// ---- The page. ----

const $ = (id) => document.getElementById(id);

/** How long the caller's typing rests before a field's length is reported. */
const PROGRESS_DEBOUNCE_MS = 300;
/** How often a visible page says the caller is still on it. */
const PRESENCE_EVERY_MS = 15000;
/** The field kinds that hold the card itself, cleared after a declined try. */
const CARD_KINDS = new Set(['card_number', 'expiry', 'security_code']);
/** The link states that take no card: the page shows why. */
const FINAL = new Set(['paid', 'expired', 'cancelled', 'locked']);

const st = {
  api: null,
  view: null,
  inputs: [], // {field, input, error, brand?}
  name: null, // the cardholder name's {input, error}, when asked
  progress: new Map(), // field id → {timer, pending, sent}
  presenceTimer: 0,
  closed: false,
  paying: false,
};

/** createElement with attributes and text: the only way this page makes DOM. */
function el(tag, attrs = {}, text = '') {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

function formatAmount(minor, currency) {
  try {
    const f = new Intl.NumberFormat(undefined, { style: 'currency', currency });
    return f.format(minor / 10 ** f.resolvedOptions().maximumFractionDigits);
  } catch {
    return `${minor} ${currency}`;
  }
}

const onlyDigits = (s) => s.replace(/\D/g, '');

/** The index in v just after its n-th digit: where the caret goes back to. */
function caretAfter(v, n) {
  if (n <= 0) return 0;
  let seen = 0;
  for (let i = 0; i < v.length; i++) {
    if (v[i] >= '0' && v[i] <= '9' && ++seen === n) return i + 1;
  }
  return v.length;
}

/** Rewrites an input's value as format(digits) and keeps the caret after the same digit. */
function reformat(input, digits, format) {
  const v = format(digits);
  if (v === input.value) return;
  const before = onlyDigits(input.value.slice(0, input.selectionStart ?? input.value.length)).length;
  input.value = v;
  if (document.activeElement === input) {
    const c = caretAfter(v, before);
    input.setSelectionRange(c, c);
  }
}

const groupsOf4 = (d) => d.replace(/(\d{4})(?=\d)/g, '$1 ');
const slashed = (d) => (d.length > 2 ? `${d.slice(0, 2)}/${d.slice(2)}` : d);

/** An input's digits as the field's kind reads them. */
function digitsOf(f) {
  if (f.field.kind === 'expiry') {
    // Autofill may write "12/2030": keep the month and the year's last two digits.
    const m = /^\s*(\d{1,2})\s*\/\s*(\d{4})\s*$/.exec(f.input.value);
    if (m) return m[1].padStart(2, '0') + m[2].slice(2);
  }
  return onlyDigits(f.input.value);
}

const cardField = () => st.inputs.find((f) => f.field.kind === 'card_number');
const cardBrand = () => {
  const c = cardField();
  return c ? brandOf(digitsOf(c)) : '';
};

/**
 * The error of a field, '' if none. final is false while the caller
 * types: only what is certain shows then (an unaccepted brand, a whole
 * number that fails its check, a whole expiry date in the past).
 */
function fieldError(f, final) {
  const d = digitsOf(f);
  const { kind, label, required } = f.field;
  if (d.length === 0) return final && required ? `Enter the ${label.toLowerCase()}.` : '';
  switch (kind) {
    case 'card_number': {
      const brand = brandOf(d);
      const accepted = st.view.accepted_brands || [];
      if (brand && accepted.length && !accepted.includes(brand)) {
        return `${BRAND_NAMES[brand]} cards are not accepted here. Use another card.`;
      }
      if ((final || d.length >= maxLength(brand)) && !(validLength(brand, d.length) && luhn(d))) {
        return 'This card number is not valid. Check it and try again.';
      }
      return '';
    }
    case 'expiry': {
      if (d.length < 4) return final ? 'Enter the expiry date as MM/YY.' : '';
      if (!expiryOf(d, new Date())) return 'The month must be 01 to 12.';
      if (!validExpiry(d, new Date())) return 'This expiry date is in the past or too far ahead. Check the card.';
      return '';
    }
    case 'security_code': {
      const want = securityCodeLen(cardBrand());
      if (!final) return '';
      if (!validSecurityCode(d, cardBrand())) {
        return want ? `Enter the ${want}-digit security code.` : 'Enter the 3- or 4-digit security code.';
      }
      return '';
    }
    default: {
      const min = f.field.min_len || 0;
      if (final && d.length < min) return `The ${label.toLowerCase()} needs at least ${min} digits.`;
      return '';
    }
  }
}

function showFieldError(f, msg) {
  f.error.textContent = msg;
  f.input.setAttribute('aria-invalid', msg ? 'true' : 'false');
}

function showAlert(msg) {
  const a = $('alert');
  a.textContent = msg;
  a.hidden = !msg;
}

/** Reports a field's length, once the caller's typing rests. A length, never a character. */
function reportLength(id, n) {
  let p = st.progress.get(id);
  if (!p) {
    p = { timer: 0, pending: 0, sent: 0 };
    st.progress.set(id, p);
  }
  p.pending = n;
  clearTimeout(p.timer);
  p.timer = setTimeout(() => sendLength(id, p), PROGRESS_DEBOUNCE_MS);
}

function sendLength(id, p) {
  clearTimeout(p.timer);
  p.timer = 0;
  if (st.closed || p.pending === p.sent) return;
  p.sent = p.pending;
  st.api.progress(id, p.sent).catch(onBackgroundError);
}

/** Sends the lengths still waiting for the typing to rest: the agent sees the whole card before it is paid. */
function flushLengths() {
  for (const [id, p] of st.progress) {
    if (p.timer) sendLength(id, p);
  }
}

/**
 * A progress or presence call failed: a link closed meanwhile (the agent
 * cancelled it) shows its end; the rest can wait. One sent just before a
 * payment may come back after it, refused by the link the payment closed:
 * the payment's answer has the say then.
 */
function onBackgroundError(e) {
  if (st.closed || st.paying) return;
  if (e instanceof ApiError && (e.status === 404 || e.status === 410)) refresh();
}

function onInput(f) {
  let d = digitsOf(f);
  switch (f.field.kind) {
    case 'card_number': {
      d = d.slice(0, maxLength(brandOf(d)));
      reformat(f.input, d, groupsOf4);
      const brand = brandOf(d);
      f.brand.textContent = brand ? BRAND_NAMES[brand] : '';
      f.brand.dataset.brand = brand;
      const cvc = st.inputs.find((x) => x.field.kind === 'security_code');
      if (cvc) {
        cvc.input.maxLength = securityCodeLen(brand) || 4;
        cvc.hint.textContent = brand === 'amex' ? '4 digits on the front of your card' : '3 digits on the back of your card';
      }
      break;
    }
    case 'expiry':
      d = d.slice(0, 4);
      reformat(f.input, d, slashed);
      break;
    default:
      reformat(f.input, d, (x) => x);
  }
  showFieldError(f, fieldError(f, false));
  reportLength(f.field.id, d.length);
}

/** What each kind of field asks the browser to fill in. */
function autocompleteOf(field) {
  switch (field.kind) {
    case 'card_number': return 'cc-number';
    case 'expiry': return 'cc-exp';
    case 'security_code': return 'cc-csc';
  }
  return /post|zip/i.test(`${field.id} ${field.label}`) ? 'postal-code' : 'off';
}

function buildFields(view) {
  const box = $('fields');
  box.replaceChildren();
  st.inputs = [];
  for (const field of view.fields || []) {
    const id = `f-${field.id}`;
    const row = el('div', { class: 'field', 'data-field': field.id, 'data-kind': field.kind });
    const label = el('label', { for: id }, field.label);
    if (field.required) label.append(el('span', { class: 'req', 'aria-hidden': 'true' }, ' *'));
    const hint = el('span', { class: 'hint', id: `${id}-hint` });
    const input = el('input', {
      id, type: 'text', inputmode: 'numeric', autocomplete: autocompleteOf(field),
      spellcheck: 'false', autocapitalize: 'off', 'aria-invalid': 'false',
      'aria-describedby': `${id}-hint ${id}-error`,
    });
    if (field.required) input.setAttribute('aria-required', 'true');
    const error = el('p', { class: 'error', id: `${id}-error` });
    const f = { field, input, error, hint, brand: null };
    row.append(label, hint);
    switch (field.kind) {
      case 'card_number': {
        input.maxLength = MAX_PAN + 4; // the digits and a space every four
        // The brand as it is told from the first digits, announced.
        f.brand = el('p', { class: 'brand', id: `${id}-brand`, 'aria-live': 'polite' });
        input.setAttribute('aria-describedby', `${id}-brand ${id}-error`);
        row.append(input, f.brand);
        break;
      }
      case 'expiry':
        hint.textContent = 'MM/YY';
        input.maxLength = 7; // "MM/YYYY" as autofill may write it
        row.append(input);
        break;
      case 'security_code':
        hint.textContent = '3 digits on the back of your card';
        input.maxLength = 4;
        input.classList.add('short');
        row.append(input);
        break;
      default:
        if (field.max_len) input.maxLength = field.max_len;
        row.append(input);
    }
    row.append(error);
    input.addEventListener('input', () => onInput(f));
    // Leaving a field checks it whole; the length goes at once.
    input.addEventListener('change', () => showFieldError(f, fieldError(f, true)));
    box.append(row);
    st.inputs.push(f);
  }
  st.name = null;
  if (view.ask_cardholder_name) {
    const row = el('div', { class: 'field', 'data-field': 'cardholder_name' });
    const input = el('input', {
      id: 'f-cardholder_name', type: 'text', autocomplete: 'cc-name', spellcheck: 'false',
      'aria-required': 'true', 'aria-invalid': 'false', 'aria-describedby': 'f-cardholder_name-error', maxlength: '200',
    });
    const error = el('p', { class: 'error', id: 'f-cardholder_name-error' });
    const label = el('label', { for: 'f-cardholder_name' }, 'Name on card');
    label.append(el('span', { class: 'req', 'aria-hidden': 'true' }, ' *'));
    row.append(label, input, error);
    box.append(row);
    st.name = { input, error };
  }
}

function renderHeader(view) {
  $('merchant').textContent = view.merchant || 'Payment';
  document.title = view.merchant ? `Pay ${view.merchant}` : 'Secure payment';
  $('amount').textContent = formatAmount(view.amount, view.currency);
  $('reference').hidden = !view.reference;
  $('reference-value').textContent = view.reference || '';
}

function showForm(view, fresh) {
  if (fresh || st.inputs.length === 0) buildFields(view);
  $('pay-button').textContent = `Pay ${formatAmount(view.amount, view.currency)}`;
  const left = view.attempts_left;
  const a = $('attempts');
  a.hidden = !(view.last_attempt && left > 0);
  a.textContent = left === 1 ? '1 attempt left.' : `${left} attempts left.`;
  $('pay').hidden = false;
}

const END = {
  approved: ['Payment received', 'Thank you. Your payment has been made. You can close this page.'],
  confirming: ['Payment received', 'We are confirming your payment with your bank. Please do not pay again.'],
  paid: ['This link has already been used', 'This payment has been made. There is nothing more to do.'],
  expired: ['This link has expired', 'Please contact MERCHANT for a new payment link.'],
  cancelled: ['This payment was cancelled', 'Please contact MERCHANT if you still need to pay.'],
  locked: ['This link is locked', 'There were too many unsuccessful attempts. Please contact MERCHANT.'],
  invalid: ['This payment link is not valid', 'Check the link in your text message and open it again, or contact the merchant who sent it.'],
  error: ['Something went wrong', ''],
};

/** Shows one of the ends: a payment made, a closed link, a link that is not valid. */
function showEnd(kind, view, message) {
  st.closed = true;
  stopPresence();
  for (const p of st.progress.values()) clearTimeout(p.timer);
  // Nothing the caller typed stays in the page once it has ended.
  for (const f of st.inputs) f.input.value = '';
  if (st.name) st.name.input.value = '';
  clearCard(false);
  const [title, text] = END[kind];
  const merchant = (view && view.merchant) || 'the merchant';
  $('pay').hidden = true;
  $('loading').hidden = true;
  const end = $('end');
  end.dataset.state = kind;
  $('end-title').textContent = title;
  $('end-text').textContent = message || text.replace('MERCHANT', merchant);
  const r = view && view.result;
  const card = $('end-card');
  card.hidden = !(r && r.last4 && (kind === 'approved' || kind === 'confirming' || kind === 'paid'));
  if (!card.hidden) card.textContent = `${BRAND_NAMES[r.brand] || 'Card'} •••• ${r.last4}`;
  end.hidden = false;
  $('status').textContent = `${title}. ${card.hidden ? '' : card.textContent}`;
  $('end-title').focus();
}

/** Shows the view: the form while the link takes a card, else its end. */
function render(view, justPaid) {
  st.view = view;
  renderHeader(view);
  $('loading').hidden = true;
  $('app').setAttribute('aria-busy', 'false');
  if (view.state === 'paid') {
    const confirming = view.result && view.result.state === 'reconciling';
    showEnd(justPaid ? (confirming ? 'confirming' : 'approved') : 'paid', view);
  } else if (FINAL.has(view.state)) {
    showEnd(view.state, view);
  } else {
    showForm(view);
  }
}

/** Empties the card's fields (and reports them empty); the name and digits fields stay. */
function clearCard(report = true) {
  for (const f of st.inputs) {
    if (!CARD_KINDS.has(f.field.kind)) continue;
    f.input.value = '';
    if (f.brand) {
      f.brand.textContent = '';
      f.brand.dataset.brand = '';
    }
    showFieldError(f, '');
    if (report) reportLength(f.field.id, 0);
  }
}

async function refresh() {
  try {
    const view = await st.api.session();
    if (st.closed || st.paying) return;
    render(view, false);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 401)) showEnd('invalid');
  }
}

function setPaying(on) {
  st.paying = on;
  const b = $('pay-button');
  b.disabled = on;
  $('pay').setAttribute('aria-busy', on ? 'true' : 'false');
  if (on) b.textContent = 'Paying…';
  else if (st.view) b.textContent = `Pay ${formatAmount(st.view.amount, st.view.currency)}`;
}

async function onSubmit(ev) {
  ev.preventDefault();
  if (st.paying || st.closed) return;
  showAlert('');
  let first = null;
  for (const f of st.inputs) {
    const msg = fieldError(f, true);
    showFieldError(f, msg);
    if (msg && !first) first = f.input;
  }
  if (st.name) {
    const bad = st.name.input.value.trim() === '';
    st.name.error.textContent = bad ? 'Enter the name on the card.' : '';
    st.name.input.setAttribute('aria-invalid', bad ? 'true' : 'false');
    if (bad && !first) first = st.name.input;
  }
  if (first) {
    showAlert('Some details need checking. They are marked below.');
    first.focus();
    return;
  }
  flushLengths();
  const fields = {};
  for (const f of st.inputs) {
    const d = digitsOf(f);
    if (d) fields[f.field.id] = d;
  }
  setPaying(true);
  let view;
  try {
    view = (await st.api.pay(fields, st.name ? st.name.input.value.trim() : undefined)).payment;
  } catch (e) {
    setPaying(false);
    onPayError(e);
    return;
  }
  setPaying(false);
  if (FINAL.has(view.state)) {
    render(view, true);
    return;
  }
  st.view = view;
  showForm(view);
  const at = view.last_attempt;
  if (!at) return;
  showAlert(at.message || 'The payment did not go through. Please try again.');
  if (at.outcome === 'invalid' && at.fields && at.fields.length) {
    let firstBad = null;
    for (const f of st.inputs) {
      if (at.fields.includes(f.field.id)) {
        showFieldError(f, 'Check this and try again.');
        firstBad = firstBad || f.input;
      }
    }
    if (firstBad) firstBad.focus();
    return;
  }
  clearCard();
  const c = cardField();
  if (c) c.input.focus();
}

function onPayError(e) {
  if (!(e instanceof ApiError)) {
    showAlert('Something went wrong. Please try again in a moment.');
    return;
  }
  if (e.status === 410 && e.payment) {
    render(e.payment, false);
    return;
  }
  if (e.status === 404 || e.status === 401) {
    showEnd('invalid');
    return;
  }
  if (e.status === 429) {
    showAlert('Too many tries. Please wait a minute and try again.');
    return;
  }
  showAlert(e.message);
}

function sendPresence(present, keepalive = false) {
  st.api.presence(present, keepalive).catch(onBackgroundError);
}

function startPresence() {
  stopPresence();
  if (st.closed || document.visibilityState !== 'visible') return;
  sendPresence(true);
  st.presenceTimer = setInterval(() => sendPresence(true), PRESENCE_EVERY_MS);
}

function stopPresence() {
  clearInterval(st.presenceTimer);
  st.presenceTimer = 0;
}

/** Reads the token from the fragment and drops the fragment from the address bar and history. */
function takeToken() {
  const raw = location.hash.slice(1);
  if (location.href.includes('#')) history.replaceState(null, '', location.pathname + location.search);
  return /^[A-Za-z0-9._~-]{1,256}$/.test(raw) ? raw : '';
}

async function main() {
  // A link pasted into this tab changes only the fragment, which runs no
  // script: load the page again for it.
  window.addEventListener('hashchange', () => {
    if (location.hash.length > 1) location.reload();
  });
  const token = takeToken();
  $('pay').addEventListener('submit', onSubmit);
  if (!token) {
    // Opened without a link (or reloaded, which drops nothing but the
    // fragment we already dropped): the token is kept nowhere.
    $('app').setAttribute('aria-busy', 'false');
    showEnd('invalid');
    return;
  }
  st.api = new Api(token);
  let view;
  try {
    view = await st.api.session();
  } catch (e) {
    $('app').setAttribute('aria-busy', 'false');
    if (e instanceof ApiError && (e.status === 404 || e.status === 401)) showEnd('invalid');
    else showEnd('error', null, e.message);
    return;
  }
  render(view, false);
  if (st.closed) return;
  startPresence();
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') startPresence();
    else stopPresence();
  });
  window.addEventListener('pagehide', () => {
    if (!st.closed) sendPresence(false, true);
  });
}

main();
