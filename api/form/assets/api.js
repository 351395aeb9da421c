// The gateway's JSON API as the form uses it: every request carries the
// form token as a bearer token; every error becomes an ApiError with the
// API's stable code and human message.

/** An error answer of the API (or no answer: status 0, code "network"). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** A client of /v1 for one payment's form token. */
export class Client {
  /**
   * @param {URL} base the API's /v1/ URL
   * @param {string} token the form token
   */
  constructor(base, token) {
    this.base = base;
    this.token = token;
  }

  /** The URL of an API path ("payments/abc"). */
  url(path) {
    return new URL(path, this.base);
  }

  /**
   * The URL of a payment's event stream. EventSource cannot set headers,
   * so the token goes in the query (the API takes it there for this path
   * only).
   */
  eventsURL(id) {
    const u = this.url(`payments/${encodeURIComponent(id)}/events`);
    u.searchParams.set('access_token', this.token);
    return u;
  }

  /** Sends a request and returns the decoded JSON answer. */
  async request(method, path, body) {
    const headers = { Authorization: `Bearer ${this.token}`, Accept: 'application/json' };
    const init = { method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(this.url(path), init);
    } catch {
      throw new ApiError(0, 'network', 'The gateway cannot be reached. Check the connection and try again.');
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (!res.ok) {
      const e = (data && data.error) || {};
      throw new ApiError(res.status, e.code || `http_${res.status}`, e.message || `The gateway answered ${res.status}.`);
    }
    return data;
  }

  payment(id) { return this.request('GET', `payments/${encodeURIComponent(id)}`); }
  chooseConfiguration(id, config) {
    return this.request('PUT', `payments/${encodeURIComponent(id)}/configuration`, { configuration: config });
  }
  patch(id, attrs) { return this.request('PATCH', `payments/${encodeURIComponent(id)}`, attrs); }
  arm(id, field) { return this.request('POST', `payments/${encodeURIComponent(id)}/fields/${encodeURIComponent(field)}/arm`); }
  clear(id, field) { return this.request('POST', `payments/${encodeURIComponent(id)}/fields/${encodeURIComponent(field)}/clear`); }
  process(id) { return this.request('POST', `payments/${encodeURIComponent(id)}/process`); }
  end(id) { return this.request('POST', `payments/${encodeURIComponent(id)}/end`); }
  another(id) { return this.request('POST', `payments/${encodeURIComponent(id)}/another`); }
  makeDigital(id, body) { return this.request('PUT', `payments/${encodeURIComponent(id)}/digital`, body); }
  sendLink(id, phone) { return this.request('POST', `payments/${encodeURIComponent(id)}/link/send`, phone ? { phone } : {}); }
}
