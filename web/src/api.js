// The relay's dashboard API (/api/v1/*): JSON in, JSON out, cookie session.
// Every call rejects with an ApiError carrying the HTTP status; a 401 from
// anything but login also calls the onUnauthorized hook (back to login).

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

async function call(method, path, body) {
  const opts = {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
  };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    throw new ApiError(0, 'The relay cannot be reached.');
  }
  let data = null;
  try {
    data = await res.json();
  } catch (e) {
    /* empty or non-JSON body */
  }
  if (!res.ok) {
    const err = new ApiError(res.status, (data && data.error) || res.statusText || 'error');
    if (res.status === 401 && path !== '/api/v1/login') onUnauthorized(err);
    throw err;
  }
  return data || {};
}

export const api = {
  login: (user, password) => call('POST', '/api/v1/login', { user, password }),
  logout: () => call('POST', '/api/v1/logout', {}),
  me: () => call('GET', '/api/v1/me'),
  hosts: () => call('GET', '/api/v1/hosts'),
  fleetHistory: (seconds = 60) => call('GET', `/api/v1/fleet/history?seconds=${seconds}`),
  history: (id, since = 0) =>
    call('GET', `/api/v1/hosts/${encodeURIComponent(id)}/history?since=${since}`),
};
