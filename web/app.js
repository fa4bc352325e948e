// fer-play's page: the song list, a queue, the player, and the Emotion switch. With the switch on, the
// page asks the server to look at the camera (POST /api/detect), plays the song chosen for the detected
// emotion, and looks again whenever a song ends (the paper's step 7). API: docs/player-web.md.
'use strict';

(() => {
  const RETRY_BUSY_MS = 700;       // a detect was already running (409): ask again shortly
  const RETRY_NOTHING_MS = 4000;   // emotion mode but nothing to play: look again after a pause
  const RETRY_SOURCE_MIN_MS = 1000; // the camera is away: look again when the server retries it

  const $ = (id) => document.getElementById(id);
  const audio = $('audio');
  const emotionSwitch = $('emotion-switch');

  const player = {
    tracks: [],          // from /api/library
    queue: [],           // track ids the person added with '+'
    current: null,       // id of the loaded track
    emotionMode: false,
    detecting: false,
    retryTimer: null,
    seeking: false,
  };

  // ---- server ----------------------------------------------------------------------------------
  async function api(path, options = {}) {
    const response = await fetch(path, {
      ...options,
      headers: options.body ? { 'Content-Type': 'application/json' } : undefined,
    });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const error = new Error((body && body.error) || `${path}: HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  function postState(change) {
    return api('/api/state', { method: 'POST', body: JSON.stringify(change) }).catch((error) => {
      showWarnings([`could not save the state: ${error.message}`]);
    });
  }

  // ---- library and queue -----------------------------------------------------------------------
  function trackById(id) {
    return player.tracks.find((track) => track.id === id) || null;
  }

  function trackRow(track, inQueueAt) {
    const row = $('track-row').content.firstElementChild.cloneNode(true);
    row.dataset.id = String(track.id);
    row.querySelector('.title').textContent = track.title;
    row.querySelector('.artist').textContent = track.artist;
    const genre = row.querySelector('.genre');
    genre.textContent = track.genre;
    genre.dataset.genre = track.genre.toLowerCase();
    row.querySelector('.play').addEventListener('click', () => {
      if (inQueueAt !== undefined) player.queue.splice(inQueueAt, 1);
      playTrack(track.id);
      renderQueue();
    });
    const add = row.querySelector('.add');
    if (inQueueAt === undefined) {
      add.addEventListener('click', () => {
        player.queue.push(track.id);
        renderQueue();
      });
    } else {
      add.setAttribute('aria-label', 'Remove from queue');
      add.classList.add('remove');
      add.addEventListener('click', () => {
        player.queue.splice(inQueueAt, 1);
        renderQueue();
      });
    }
    return row;
  }

  function renderLibrary() {
    const list = $('library');
    list.replaceChildren(...player.tracks.map((track) => trackRow(track)));
    $('library-count').textContent = `${player.tracks.length} ${player.tracks.length === 1 ? 'song' : 'songs'}`;
    $('library-empty').hidden = player.tracks.length > 0;
    markCurrent();
  }

  function renderQueue() {
    const rows = player.queue.map(trackById).map((track, i) => (track ? trackRow(track, i) : null)).filter(Boolean);
    $('queue').replaceChildren(...rows);
    $('queue-empty').hidden = rows.length > 0;
    $('queue-clear').hidden = rows.length === 0;
  }

  function markCurrent() {
    for (const row of $('library').children) {
      row.classList.toggle('current', row.dataset.id === String(player.current));
    }
  }

  // ---- playback --------------------------------------------------------------------------------
  function playTrack(id) {
    const track = trackById(id);
    if (!track) return;
    player.current = id;
    audio.src = `/api/audio/${id}`;
    $('now-title').textContent = track.title;
    $('now-artist').textContent = `${track.artist} · ${track.genre}`;
    markCurrent();
    postState({ now_playing: id });
    audio.play().catch((error) => {
      // Browsers refuse to start sound before the person has touched the page.
      if (error.name === 'NotAllowedError') showWarnings(['press play to start the music']);
    });
  }

  function playNextNormally() {
    if (player.queue.length > 0) {
      playTrack(player.queue.shift());
      renderQueue();
      return;
    }
    if (player.tracks.length === 0) return;
    const at = player.tracks.findIndex((track) => track.id === player.current);
    playTrack(player.tracks[(at + 1) % player.tracks.length].id);
  }

  function next() {
    if (player.emotionMode) detectAndPlay();
    else playNextNormally();
  }

  function togglePlay() {
    if (player.current === null) {
      if (player.emotionMode) detectAndPlay();
      else playNextNormally();
      return;
    }
    if (audio.paused) audio.play().catch(() => {});
    else audio.pause();
  }

  function formatTime(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) return '0:00';
    const whole = Math.floor(seconds);
    return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
  }

  function updateSeek() {
    const seek = $('seek');
    const duration = Number.isFinite(audio.duration) ? audio.duration : 0;
    seek.max = String(duration);
    seek.disabled = duration === 0;
    if (!player.seeking) seek.value = String(audio.currentTime);
    seek.style.setProperty('--progress', duration ? `${(100 * audio.currentTime) / duration}%` : '0%');
    $('time-current').textContent = formatTime(audio.currentTime);
    $('time-total').textContent = formatTime(duration);
  }

  // ---- emotion mode ----------------------------------------------------------------------------
  function setPanelState(state, statusText) {
    $('emotion-panel').dataset.state = state;
    $('emotion-status').textContent = statusText;
  }

  function showWarnings(warnings) {
    $('warnings').replaceChildren(
      ...warnings.map((text) => {
        const item = document.createElement('li');
        item.textContent = text;
        return item;
      }),
    );
  }

  function sourceProblem(source) {
    const retry = Math.max(1, Math.round(source.retry_seconds || 0));
    return `The camera is unavailable: ${source.error}. Trying again in ${retry} s.`;
  }

  function showDecision(decision) {
    if (decision.event === 'source_unavailable') {
      showSourceUnavailable(decision);
      return;
    }
    const noFace = decision.event === 'no_face';
    $('emotion-result').hidden = false;
    $('emotion-event').textContent = new Date(decision.time).toLocaleTimeString();
    $('emotion-label').textContent = noFace ? 'no face' : decision.emotion;
    $('emotion-panel').dataset.emotion = noFace ? 'none' : decision.emotion;
    $('emotion-confidence').textContent = noFace ? '' : `${Math.round(decision.confidence * 100)}% sure`;
    $('emotion-detail').textContent = noFace
      ? 'No face was seen. Look at the camera.'
      : `from ${decision.faces} face ${decision.faces === 1 ? 'frame' : 'frames'}`;
    const face = $('face');
    if (decision.face) {
      face.src = decision.face;
      face.hidden = false;
    } else if (noFace) {
      face.hidden = true;
    }

    const bars = (decision.classes || Object.keys(decision.probabilities)).map((name) => {
      const p = decision.probabilities[name] || 0;
      const item = document.createElement('li');
      item.className = 'bar';
      item.dataset.emotion = name;
      item.classList.toggle('chosen', name === decision.emotion);
      const label = document.createElement('span');
      label.className = 'bar-label';
      label.textContent = name;
      const track = document.createElement('span');
      track.className = 'bar-track';
      const fill = document.createElement('span');
      fill.className = 'bar-fill';
      fill.style.width = `${(p * 100).toFixed(1)}%`;
      track.append(fill);
      const value = document.createElement('span');
      value.className = 'bar-value';
      value.textContent = `${Math.round(p * 100)}%`;
      item.append(label, track, value);
      return item;
    });
    $('probabilities').replaceChildren(...(noFace ? [] : bars));
    showWarnings(decision.warnings || []);

    if (decision.track) {
      setPanelState(noFace ? 'no-face' : 'decided', noFace ? `Keeping the mood: ${decision.track.title}` : `Playing ${decision.track.title} for ${decision.emotion}`);
    } else {
      setPanelState(noFace ? 'no-face' : 'decided', 'No song fits; looking again soon.');
    }
  }

  // The music goes on in the current mood (the decision's track) while there is nothing to look at.
  function showSourceUnavailable(decision) {
    $('emotion-result').hidden = false;
    $('emotion-event').textContent = new Date(decision.time).toLocaleTimeString();
    $('emotion-label').textContent = 'no camera';
    $('emotion-panel').dataset.emotion = 'none';
    $('emotion-confidence').textContent = '';
    $('emotion-detail').textContent = sourceProblem(decision.source);
    $('face').hidden = true;
    $('probabilities').replaceChildren();
    showWarnings(decision.warnings || []);
    setPanelState(
      'error',
      decision.track ? `No camera; keeping the mood: ${decision.track.title}` : 'No camera; waiting for it.',
    );
  }

  async function detectAndPlay() {
    if (!player.emotionMode || player.detecting) return;
    clearTimeout(player.retryTimer);
    player.detecting = true;
    setPanelState('looking', 'looking…');
    let decision = null;
    try {
      decision = await api('/api/detect', { method: 'POST' });
    } catch (error) {
      player.detecting = false;
      if (error.status === 409) {
        player.retryTimer = setTimeout(detectAndPlay, RETRY_BUSY_MS);
        return;
      }
      setPanelState('error', `Could not detect: ${error.message}`);
      return;
    }
    player.detecting = false;
    if (!player.emotionMode) return;  // switched off while looking: keep the music as it is
    showDecision(decision);
    if (decision.track) {
      playTrack(decision.track.id);
    } else if (decision.event === 'source_unavailable') {
      const retryMs = Math.max(RETRY_SOURCE_MIN_MS, 1000 * (decision.source.retry_seconds || 0));
      player.retryTimer = setTimeout(detectAndPlay, retryMs);
    } else {
      player.retryTimer = setTimeout(detectAndPlay, RETRY_NOTHING_MS);
    }
  }

  function setEmotionMode(on, { save = true } = {}) {
    player.emotionMode = on;
    emotionSwitch.checked = on;
    document.body.classList.toggle('emotion-on', on);
    if (save) postState({ emotion_mode: on });
    if (on) {
      detectAndPlay();
    } else {
      clearTimeout(player.retryTimer);
      setPanelState('off', 'Emotion mode is off: songs play from the queue, then the list.');
    }
  }

  // ---- wiring ----------------------------------------------------------------------------------
  emotionSwitch.addEventListener('change', () => setEmotionMode(emotionSwitch.checked));
  $('play-pause').addEventListener('click', togglePlay);
  $('next').addEventListener('click', next);
  $('queue-clear').addEventListener('click', () => {
    player.queue = [];
    renderQueue();
  });
  $('seek').addEventListener('input', (event) => {
    player.seeking = true;
    $('time-current').textContent = formatTime(Number(event.target.value));
  });
  $('seek').addEventListener('change', (event) => {
    audio.currentTime = Number(event.target.value);
    player.seeking = false;
  });
  audio.addEventListener('play', () => document.body.classList.add('playing'));
  audio.addEventListener('pause', () => document.body.classList.remove('playing'));
  audio.addEventListener('timeupdate', updateSeek);
  audio.addEventListener('durationchange', updateSeek);
  audio.addEventListener('ended', () => {
    document.body.classList.remove('playing');
    // The paper's step 7: when a song ends in emotion mode, look again and play the next one.
    if (player.emotionMode) detectAndPlay();
    else playNextNormally();
  });
  audio.addEventListener('error', () => {
    if (player.current !== null) showWarnings([`could not play track ${player.current}`]);
  });

  async function start() {
    try {
      player.tracks = (await api('/api/library')).tracks;
      renderLibrary();
      renderQueue();
      const state = await api('/api/state');
      if (state.last_decision) showDecision(state.last_decision);
      setEmotionMode(Boolean(state.emotion_mode), { save: false });
      if (state.source && !state.source.available) showWarnings([sourceProblem(state.source)]);
    } catch (error) {
      setPanelState('error', `The server did not answer: ${error.message}`);
    }
  }

  start();
})();
