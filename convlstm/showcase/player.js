// The frame player: one sprite of palette frames (showcase/pipeline.py: player_payload) drawn on a canvas, so
// play/pause and the scrubber never ask the server for anything; the frame rate comes with the payload.
const state = {k: 0, playing: true, img: null, src: null, fps: 0, timer: null};
const part = (q) => element.querySelector(q);
function draw() {
  const v = props.value, canvas = part('canvas');
  if (!v || !canvas || !state.img || !state.img.complete) return;
  const g = canvas.getContext('2d');
  g.imageSmoothingEnabled = false;
  g.drawImage(state.img, 0, state.k * v.height, v.width, v.height, 0, 0, canvas.width, canvas.height);
  canvas.dataset.frame = state.k;
  part('.scrub').value = state.k;
  part('.counter').textContent = `frame ${state.k + 1}/${v.frames}: ${v.labels[state.k]}`;
  const play = part('.play');
  play.innerHTML = state.playing ? '&#10074;&#10074;' : '&#9654;';
  play.setAttribute('aria-label', state.playing ? 'Pause' : 'Play');
}
function tick() {
  const v = props.value;
  if (state.playing && v && state.img && state.img.complete) { state.k = (state.k + 1) % v.frames; draw(); }
}
function load() {
  const v = props.value;
  if (v && v.sprite !== state.src) {
    state.src = v.sprite; state.k = 0; state.img = new Image();
    state.img.onload = draw; state.img.src = v.sprite;
  }
  if (v && v.fps !== state.fps) { clearInterval(state.timer); state.fps = v.fps; state.timer = setInterval(tick, 1000 / v.fps); }
  draw();
}
watch('value', load);
load();
element.addEventListener('click', (e) => { if (e.target.closest('.play')) { state.playing = !state.playing; draw(); } });
element.addEventListener('input', (e) => {
  if (e.target.matches('.scrub')) { state.playing = false; state.k = Number(e.target.value); draw(); }
});
