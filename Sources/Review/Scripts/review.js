// The review page: renders the header, the decision, the timeline, the event list and the contact sheet from the
// embedded JSON, links them to the video, and sets <body data-ok="1"> at the end. Everything from the manifest is
// put into the page with textContent or setAttribute, never parsed as HTML.
(function () {
  'use strict';
  var manifest = JSON.parse(document.getElementById('manifest').textContent);
  var sheetInfo = JSON.parse(document.getElementById('contact-sheet-info').textContent);
  var video = document.getElementById('video');

  // ---- helpers ----------------------------------------------------------------------------------
  function el(tag, attributes, text) {
    var node = document.createElement(tag);
    if (attributes) Object.keys(attributes).forEach(function (key) {
      if (attributes[key] !== undefined && attributes[key] !== null) node.setAttribute(key, String(attributes[key]));
    });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function append(parent) {
    for (var i = 1; i < arguments.length; i++) if (arguments[i]) parent.appendChild(arguments[i]);
    return parent;
  }
  function clock(seconds) {
    if (typeof seconds !== 'number' || !isFinite(seconds)) return '–';
    var minutes = Math.floor(seconds / 60), rest = seconds - minutes * 60;
    return minutes + ':' + (rest < 10 ? '0' : '') + rest.toFixed(1);
  }
  function safeColor(text) { return /^#[0-9a-fA-F]{6}$/.test(text || '') ? text : '#888888'; }
  function yes(text) { return text === 'true'; }
  function parseJSON(text) { try { return JSON.parse(text); } catch (error) { return null; } }

  var participants = Array.isArray(manifest.participants) ? manifest.participants : [];
  var names = {};
  participants.forEach(function (p) { names[p.id] = p.name || p.id; });
  function who(id) {
    if (id === undefined || id === null || id === '') return 'someone';
    return names[id] && names[id] !== id ? names[id] + ' (' + id + ')' : String(id);
  }
  function colorOf(id) {
    for (var i = 0; i < participants.length; i++) if (participants[i].id === id) return safeColor(participants[i].color);
    return '#888888';
  }

  var events = (Array.isArray(manifest.events) ? manifest.events : [])
    .filter(function (e) { return e && typeof e.time === 'number' && isFinite(e.time); })
    .map(function (e, index) { return { kind: String(e.kind), time: e.time, fields: e.fields || {}, order: index }; });
  (manifest.layoutChanges || []).forEach(function (change, index) {
    events.push({ kind: 'layout', time: change.time, order: 100000 + index, fields: {
      layout: change.layout, tiles: (change.tiles || []).map(function (t) { return t.participantID; }).join(',') } });
  });
  events.sort(function (a, b) { return a.time - b.time || a.order - b.order; });

  var duration = typeof manifest.durationSeconds === 'number' && manifest.durationSeconds > 0 ? manifest.durationSeconds : 0;
  events.forEach(function (e) { duration = Math.max(duration, e.time); });
  participants.forEach(function (p) { duration = Math.max(duration, p.leftAt || 0, p.joinedAt || 0); });
  if (!(duration > 0)) duration = 1;
  function percent(seconds) { return Math.max(0, Math.min(100, seconds / duration * 100)) + '%'; }

  // What one event says, in words.
  function describe(e) {
    var f = e.fields;
    switch (e.kind) {
      case 'request':
        return who(f.from) + ' asks to upgrade to ' + (yes(f.useVideo) ? 'video' : 'audio') +
          (yes(f.useAudio) && yes(f.useVideo) ? ' and audio' : '') + (f.requestID ? ' (request ' + f.requestID + ')' : '');
      case 'answer':
        return (yes(f.response) ? 'Accepted' : 'Refused') + ' by ' + who(f.by) + (yes(f.automatic) ? ' (automatic)' : '') +
          (f.reason ? ': ' + f.reason : '');
      case 'decision':
        var audit = parseJSON(f.audit) || {};
        return 'Policy decision: ' + (audit.answer || '?') + (audit.reason ? ' — ' + audit.reason : '') +
          (audit.chain ? ' [chain ' + audit.chain + ']' : '');
      case 'chat': return who(f.from) + ': ' + (f.text || '');
      case 'join': return who(f.participant) + ' joined' + (f.role ? ' as ' + f.role : '');
      case 'leave': return who(f.participant) + ' left';
      case 'loudest': return who(f.participant) + ' is speaking';
      case 'layout': return 'Layout ' + (f.layout || '') + ': ' + (f.tiles ? f.tiles.split(',').map(who).join(', ') : 'empty');
      case 'end': return 'Session ended' + (f.reason ? ': ' + f.reason : '');
      default:
        return Object.keys(f).sort().map(function (k) { return k + '=' + f[k]; }).join(', ');
    }
  }

  var seekables = [];
  function seekable(node, time) {
    node.setAttribute('data-time', time.toFixed(3));
    node.setAttribute('tabindex', '0');
    node.addEventListener('click', function () { seek(time); });
    node.addEventListener('keydown', function (event) { if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); seek(time); } });
    seekables.push(node);
    return node;
  }

  // ---- header -----------------------------------------------------------------------------------
  document.title = 'Review: session ' + manifest.session;
  var header = document.getElementById('header');
  append(header, el('h1', null, 'Session ' + manifest.session));
  var facts = el('dl', { class: 'facts' });
  [['Contact', manifest.contact], ['Status', manifest.status], ['Started', manifest.wallClockStart],
   ['Ended', manifest.wallClockEnd], ['Duration', clock(manifest.durationSeconds)],
   ['Picture', manifest.width + '×' + manifest.height + ' @ ' + manifest.fps + ' fps, ' + manifest.layout],
   ['Participants', participants.length], ['SHA-256', manifest.sha256 || 'none'], ['Recorder', manifest.recorderVersion]]
    .forEach(function (pair) {
      append(facts, el('dt', null, pair[0]), el('dd', { class: pair[0] === 'Status' ? 'status status-' + pair[1] : null }, pair[1] === undefined ? '–' : pair[1]));
    });
  append(header, facts);

  // ---- decision ---------------------------------------------------------------------------------
  var decisionBox = document.getElementById('decision');
  append(decisionBox, el('h2', null, 'Upgrade decision'));
  var decisionEvents = events.filter(function (e) { return e.kind === 'request' || e.kind === 'answer' || e.kind === 'decision'; });
  if (decisionEvents.length === 0) append(decisionBox, el('p', { class: 'muted' }, 'No upgrade request was recorded.'));
  decisionEvents.forEach(function (e) {
    var card = seekable(el('div', { class: 'card event-' + e.kind, 'data-kind': e.kind }), e.time);
    append(card, el('span', { class: 'badge badge-' + e.kind }, e.kind), el('span', { class: 'when' }, clock(e.time)));
    if (e.kind === 'answer') {
      append(card, el('strong', { class: yes(e.fields.response) ? 'accept' : 'refuse' }, yes(e.fields.response) ? 'Accepted' : 'Refused'),
             el('span', null, ' by ' + who(e.fields.by) + (yes(e.fields.automatic) ? ' (automatic, by policy)' : ' (by the agent)')));
      if (e.fields.reason) append(card, el('p', { class: 'reason' }, e.fields.reason));
    } else if (e.kind === 'decision') {
      var audit = parseJSON(e.fields.audit);
      if (!audit) { append(card, el('p', null, 'Audit record unreadable')); }
      else {
        append(card, el('strong', { class: audit.answer === 'accept' ? 'accept' : audit.answer === 'refuse' ? 'refuse' : 'abstain' }, audit.answer),
               el('span', null, ' chain ' + (audit.chain || '?') + ', ' + (audit.isolation || '?') + ' isolation, fail mode ' + (audit.failMode || '?')));
        if (audit.reason) append(card, el('p', { class: 'reason' }, audit.reason));
        if (audit.fallbackUsed) append(card, el('p', { class: 'warning' }, 'Fallback used: ' + (audit.fallbackCause || 'a plugin failed')));
        var plugins = Array.isArray(audit.plugins) ? audit.plugins : [];
        if (plugins.length) {
          var table = el('table', { class: 'plugins' });
          append(table, append(el('tr'), el('th', null, 'Plugin'), el('th', null, 'Verdict'), el('th', null, 'Reason'), el('th', null, 'Latency')));
          plugins.forEach(function (p) {
            append(table, append(el('tr', { 'data-kind': 'verdict', 'data-verdict': p.verdict }),
              el('td', null, p.plugin + (p.version ? ' ' + p.version : '')),
              el('td', { class: 'verdict verdict-' + p.verdict }, p.verdict),
              el('td', null, p.reason),
              el('td', { class: 'number' }, typeof p.latencyMicroseconds === 'number' ? (p.latencyMicroseconds / 1000).toFixed(2) + ' ms' : '')));
          });
          append(card, table);
        }
      }
    } else {
      append(card, el('span', null, describe(e)));
    }
    append(decisionBox, card);
  });

  // ---- timeline ---------------------------------------------------------------------------------
  var timeline = document.getElementById('timeline');
  append(timeline, el('h2', null, 'Timeline'));
  var chart = el('div', { class: 'chart' });
  var ruler = el('div', { class: 'lane ruler' });
  var rulerTrack = el('div', { class: 'track' });
  append(ruler, el('div', { class: 'label' }, ''), rulerTrack);
  var step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600].find(function (s) { return duration / s <= 12; }) || 7200;
  for (var t = 0; t <= duration + 1e-6; t += step) {
    append(rulerTrack, el('span', { class: 'tick', style: 'left:' + percent(t) }, clock(t).replace(/\.0$/, '')));
  }
  append(chart, ruler);

  function lane(title, subtitle, kind) {
    var row = el('div', { class: 'lane lane-' + kind });
    var label = el('div', { class: 'label' });
    append(label, el('span', { class: 'name' }, title), subtitle ? el('span', { class: 'sub' }, subtitle) : null);
    var track = el('div', { class: 'track' });
    append(row, label, track);
    append(chart, row);
    return track;
  }
  function bar(track, kind, start, end, color, text, extra) {
    var attributes = { class: 'bar ' + kind, 'data-kind': kind, 'data-start': start.toFixed(3), 'data-end': end.toFixed(3),
                       style: 'left:' + percent(start) + ';width:' + percent(Math.max(0, end - start)) + ';--color:' + color, title: text };
    Object.keys(extra || {}).forEach(function (k) { attributes[k] = extra[k]; });
    return append(track, seekable(el('div', attributes), start));
  }
  function marker(track, e) {
    var text = clock(e.time) + '  ' + describe(e);
    var node = seekable(el('div', { class: 'marker marker-' + e.kind, 'data-kind': e.kind, style: 'left:' + percent(e.time), title: text }), e.time);
    return append(track, node);
  }

  // Who spoke when: each loudest change starts a segment that lasts until the next one, cut to the speaker's presence.
  var loudest = events.filter(function (e) { return e.kind === 'loudest' && e.fields.participant; });
  function presences(id) {
    return participants.filter(function (p) { return p.id === id; })
      .map(function (p) { return [p.joinedAt || 0, typeof p.leftAt === 'number' ? p.leftAt : duration]; });
  }
  var speaking = [];
  loudest.forEach(function (e, index) {
    var end = index + 1 < loudest.length ? loudest[index + 1].time : duration;
    presences(e.fields.participant).forEach(function (span) {
      var start = Math.max(e.time, span[0]), stop = Math.min(end, span[1]);
      if (stop > start) speaking.push({ participant: e.fields.participant, start: start, end: stop });
    });
  });

  var seen = {};
  participants.forEach(function (p) {
    if (seen[p.id]) return;
    seen[p.id] = true;
    var track = lane(p.name || p.id, p.role + ' · ' + p.id, 'participant');
    track.parentNode.setAttribute('data-participant', p.id);
    var color = safeColor(p.color);
    presences(p.id).forEach(function (span) {
      bar(track, 'presence', span[0], span[1], color, (p.name || p.id) + ' present ' + clock(span[0]) + ' – ' + clock(span[1]), { 'data-participant': p.id });
    });
    speaking.filter(function (s) { return s.participant === p.id; }).forEach(function (s) {
      bar(track, 'speaking', s.start, s.end, color, (p.name || p.id) + ' speaking ' + clock(s.start) + ' – ' + clock(s.end), { 'data-participant': p.id });
    });
  });
  var lanes = [['Decision', 'request · answer · policy', ['request', 'answer', 'decision', 'end']],
               ['Chat', 'messages', ['chat']], ['Layout', 'changes', ['layout']]];
  lanes.forEach(function (spec) {
    var track = lane(spec[0], spec[1], spec[0].toLowerCase());
    events.filter(function (e) { return spec[2].indexOf(e.kind) >= 0; }).forEach(function (e) { marker(track, e); });
  });
  var overlay = el('div', { class: 'overlay' });
  var playhead = el('div', { class: 'playhead', id: 'playhead' });
  append(overlay, playhead);
  append(chart, overlay);
  append(timeline, chart);
  append(timeline, append(el('div', { class: 'legend' }),
    el('span', { class: 'key presence-key' }, 'present'), el('span', { class: 'key speaking-key' }, 'loudest speaker'),
    el('span', { class: 'key marker-key' }, 'event (click to play from there)')));
  // A click on an empty part of a track seeks there too.
  Array.prototype.forEach.call(chart.querySelectorAll('.track'), function (track) {
    track.addEventListener('click', function (event) {
      if (event.target !== track) return;
      var box = track.getBoundingClientRect();
      seek((event.clientX - box.left) / box.width * duration);
    });
  });

  // ---- event list -------------------------------------------------------------------------------
  var list = document.getElementById('event-list');
  append(list, append(el('tr'), el('th', null, 'Time'), el('th', null, 'Kind'), el('th', null, 'What')));
  var rows = [];
  events.forEach(function (e) {
    var row = seekable(el('tr', { class: 'event', 'data-kind': e.kind }), e.time);
    append(row, el('td', { class: 'when' }, clock(e.time)), append(el('td'), el('span', { class: 'badge badge-' + e.kind }, e.kind)),
           el('td', { class: 'text' }, describe(e)));
    rows.push({ node: row, time: e.time });
    append(list, row);
  });

  // ---- problems ---------------------------------------------------------------------------------
  var problems = Array.isArray(manifest.problems) ? manifest.problems : [];
  if (problems.length) {
    var box = document.getElementById('problems');
    append(box, el('h2', null, 'Problems'));
    var ul = el('ul');
    problems.forEach(function (p) { append(ul, el('li', null, p)); });
    append(box, ul);
  }

  // ---- contact sheet ----------------------------------------------------------------------------
  var sheet = document.getElementById('contact-sheet');
  if (sheet && sheetInfo && sheetInfo.layout) {
    sheet.addEventListener('click', function (event) {
      var box = sheet.getBoundingClientRect(), layout = sheetInfo.layout;
      var x = (event.clientX - box.left) / box.width * sheet.naturalWidth;
      var y = (event.clientY - box.top) / box.height * sheet.naturalHeight;
      var column = Math.floor((x - layout.padding) / (layout.thumbnailWidth + layout.padding));
      var row = Math.floor((y - layout.padding) / (layout.thumbnailHeight + layout.labelHeight + layout.padding));
      var index = row * layout.columns + column;
      if (column >= 0 && column < layout.columns && row >= 0 && index < sheetInfo.times.length) seek(sheetInfo.times[index]);
    });
  }

  // ---- playback ---------------------------------------------------------------------------------
  var nowLabel = document.getElementById('now');
  var current = null;
  function show(time) {
    playhead.style.left = percent(time);
    nowLabel.textContent = clock(time) + ' / ' + clock(duration);
    var latest = null;
    rows.forEach(function (r) { if (r.time <= time + 0.05) latest = r.node; });
    if (latest !== current) {
      if (current) current.classList.remove('current');
      if (latest) latest.classList.add('current');
      current = latest;
    }
  }
  function seek(time) {
    time = Math.max(0, Math.min(duration, time));
    try { video.currentTime = time; } catch (error) { /* not loaded yet: the playhead still moves */ }
    show(time);
  }
  var frameRequest = null;
  function follow() { show(video.currentTime); frameRequest = video.paused ? null : requestAnimationFrame(follow); }
  // Tells whoever looks (a test, a reviewer's tools) that the browser can play the recording.
  video.addEventListener('loadedmetadata', function () { document.body.setAttribute('data-video-duration', video.duration.toFixed(2)); });
  video.addEventListener('error', function () { document.body.setAttribute('data-video-error', String(video.error && video.error.code)); });
  video.addEventListener('timeupdate', function () { show(video.currentTime); });
  video.addEventListener('seeked', function () { show(video.currentTime); });
  video.addEventListener('play', function () { if (!frameRequest) frameRequest = requestAnimationFrame(follow); });
  document.addEventListener('keydown', function (event) {
    if (event.target !== document.body) return;
    if (event.key === ' ') { event.preventDefault(); if (video.paused) video.play(); else video.pause(); }
  });
  // `review.html#t=12.5` opens the page at that moment.
  var deepLink = /^#t=(\d+(?:\.\d+)?)$/.exec(location.hash);
  if (deepLink) seek(parseFloat(deepLink[1])); else show(0);
  window.addEventListener('hashchange', function () {
    var link = /^#t=(\d+(?:\.\d+)?)$/.exec(location.hash);
    if (link) seek(parseFloat(link[1]));
  });

  document.body.setAttribute('data-events', String(events.length));
  document.body.setAttribute('data-seekable', String(seekables.length));
  document.body.setAttribute('data-ok', '1');
})();
