// sw.js — the tablet app's service worker: keeps the app shell so the app
// starts with turfd unreachable. precache.js (generated when turfd is
// built) lists every file of the app and a version that changes with them;
// a new version is fetched whole before it replaces the old one.
//
// Files come from the cache first, so the app starts at once with or
// without a network; a new turfd serves a new precache.js, the browser
// notices when it checks this worker for updates (on every visit), and the
// new version is installed whole and takes over. The sync connection is
// the page's websocket: a service worker has none, and never sees it.
importScripts('precache.js');

const CACHE = `turf-tablet-${self.TURF_PRECACHE.version}`;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(self.TURF_PRECACHE.urls.map((u) => new Request(u, { cache: 'reload' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== location.origin || !url.pathname.startsWith('/tablet/')) return;
  /* The page is the same whatever its query or fragment. */
  const key = url.pathname === '/tablet/' ? '/tablet/index.html' : url.pathname;
  event.respondWith((async () => {
    const cached = await caches.match(key, { cacheName: CACHE });
    return cached || fetch(event.request);
  })());
});
