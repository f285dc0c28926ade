// Host list: the account's hosts with online/offline, last check-in and
// whether a realtime session is running; refreshed every 5 s.
import { h, setText } from '../dom.js';
import { api } from '../api.js';
import { ago } from '../format.js';

export function hostsView() {
  const tbody = h('tbody');
  const note = h('p', { class: 'muted' }, 'Loading hosts…');
  const table = h('table', { class: 'host-table', hidden: true },
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Host'), h('th', { scope: 'col' }, 'Status'),
      h('th', { scope: 'col' }, 'Last seen'), h('th', { scope: 'col' }, 'Realtime'),
      h('th', { scope: 'col', class: 'num' }, ''))),
    tbody);
  const list = h('section', { class: 'card host-list', dataset: { loaded: 'false', count: '0' } },
    h('header', { class: 'card-head' }, h('h2', {}, 'Hosts')), table, note);
  let hosts = [];
  let timer = null;
  let dead = false;

  function render() {
    const now = Date.now();
    tbody.replaceChildren(...hosts.map((x) => {
      const href = `#/host/${encodeURIComponent(x.id)}`;
      return h('tr', { dataset: { host: x.id, online: String(!!x.online) } },
        h('td', { class: 'host-name' }, h('a', { href }, x.id)),
        h('td', {}, h('span', { class: `pill ${x.online ? 'ok' : 'off'}` },
          h('span', { class: 'dot' }), x.online ? 'online' : 'offline')),
        h('td', { class: 'muted', title: x.last_seen_ms ? new Date(x.last_seen_ms).toLocaleString() : '' }, ago(x.last_seen_ms, now)),
        h('td', {}, x.streaming ? h('span', { class: 'pill live' }, h('span', { class: 'dot' }), 'streaming') : h('span', { class: 'muted' }, 'idle')),
        h('td', { class: 'num' }, h('a', { class: 'btn small', href }, 'Open')));
    }));
    table.hidden = hosts.length === 0;
    if (!hosts.length) {
      note.replaceChildren('No hosts in this account yet. Add one with ',
        h('code', {}, 'sno-relay new-host NAME --account ACCOUNT'), ' and start its agent.');
    }
    note.hidden = hosts.length > 0;
    list.dataset.count = String(hosts.length);
  }

  async function load() {
    try {
      const r = await api.hosts();
      if (dead) return;
      hosts = Array.isArray(r.hosts) ? r.hosts.slice().sort((a, b) => String(a.id).localeCompare(String(b.id))) : [];
      list.dataset.loaded = 'true';
      render();
    } catch (e) {
      if (dead || e.status === 401) return;
      setText(note, `Could not load hosts: ${e.message}`);
      note.hidden = false;
    }
    if (!dead) timer = setTimeout(load, 5000);
  }
  load();

  return {
    el: h('main', { class: 'page' }, list),
    destroy() {
      dead = true;
      clearTimeout(timer);
    },
  };
}
