// The page of `posenet export --format web`: loads model/model.json with the official @tensorflow-models/posenet
// (posenet.load with modelUrl, the config written next to this file), runs estimateMultiplePoses on the bundled
// sample photo, a chosen image or the webcam, and draws the skeletons.
//
// For scripts and tests: window.poses holds the latest poses ({score, keypoints: [{part, score, x, y}]}, pixels
// of the image, the schema of `posenet infer`'s poses.json), also shown in #poses; window.posenetPage holds
// {state: 'loading' | 'ready' | 'error', source, runs, frames, backend, error}.
// URL options: ?backend=cpu|webgl (default webgl, cpu where WebGL is unavailable), ?camera=1 starts the webcam.
'use strict';

const query = new URLSearchParams(window.location.search);
const page = {state: 'loading', source: null, runs: 0, frames: 0, backend: null, error: null};
window.posenetPage = page;
window.poses = [];

const canvas = document.getElementById('canvas');
const context = canvas.getContext('2d');
const video = document.getElementById('video');
const status = document.getElementById('status');
const cameraButton = document.getElementById('camera');
let net = null;
let config = null;
let cameraOn = false;

function setStatus(text, isError = false) {
  status.textContent = text;
  status.className = isError ? 'error' : '';
}

function fail(err) {
  page.state = 'error';
  page.error = String(err && err.message ? err.message : err);
  setStatus(`error: ${page.error}`, true);
}

function asJson(poses) {
  return poses.map(pose => ({
    score: pose.score,
    keypoints: pose.keypoints.map(k => ({part: k.part, score: k.score, x: k.position.x, y: k.position.y})),
  }));
}

function colour(part) {
  return part.startsWith('left') ? '#00c0ff' : part.startsWith('right') ? '#ff8000' : '#ffe000';
}

function draw(source, width, height, poses) {
  canvas.width = width;
  canvas.height = height;
  context.drawImage(source, 0, 0, width, height);
  const line = Math.max(2, Math.round(Math.max(width, height) / 250));
  for (const pose of poses) {
    if (pose.score < config.draw.minPoseScore) {
      continue;
    }
    context.lineWidth = line;
    for (const [a, b] of posenet.getAdjacentKeyPoints(pose.keypoints, config.draw.minPartScore)) {
      context.strokeStyle = colour(b.part);
      context.beginPath();
      context.moveTo(a.position.x, a.position.y);
      context.lineTo(b.position.x, b.position.y);
      context.stroke();
    }
    for (const k of pose.keypoints) {
      if (k.score >= config.draw.minPartScore) {
        context.fillStyle = colour(k.part);
        context.beginPath();
        context.arc(k.position.x, k.position.y, line * 1.6, 0, 2 * Math.PI);
        context.fill();
      }
    }
  }
}

async function estimate(input) {
  return net.estimateMultiplePoses(input, {flipHorizontal: false, ...config.decode});
}

function publish(poses, source) {
  window.poses = asJson(poses);
  document.getElementById('poses').textContent = JSON.stringify(window.poses, null, 1);
  page.source = source;
}

async function runImage(url, name) {
  const image = new Image();
  image.src = url;
  await image.decode();
  setStatus(`running on ${name}…`);
  const start = performance.now();
  const poses = await estimate(image);
  const ms = performance.now() - start;
  draw(image, image.naturalWidth, image.naturalHeight, poses);
  publish(poses, name);
  page.runs += 1;
  page.state = 'ready';
  setStatus(`${poses.length} poses in ${name} (${image.naturalWidth}x${image.naturalHeight} px, ${ms.toFixed(0)} ms)`);
}

async function cameraLoop() {
  while (cameraOn) {
    const poses = await estimate(video);
    if (!cameraOn) {
      break;
    }
    draw(video, video.videoWidth, video.videoHeight, poses);
    publish(poses, 'webcam');
    page.frames += 1;
    setStatus(`webcam: ${poses.length} poses, frame ${page.frames}`);
    // A short pause, not requestAnimationFrame: on the cpu backend a frame holds the main thread for a second or
    // more, and the page must stay responsive (buttons, painting) between frames.
    await new Promise(resolve => setTimeout(resolve, 50));
  }
}

async function startCamera() {
  const stream = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}, audio: false});
  video.srcObject = stream;
  await video.play();
  video.width = video.videoWidth;  // posenet reads the size of a video element from these attributes
  video.height = video.videoHeight;
  cameraOn = true;
  cameraButton.textContent = 'Stop webcam';
  page.state = 'ready';
  cameraLoop().catch(fail);
}

function stopCamera() {
  cameraOn = false;
  for (const track of (video.srcObject ? video.srcObject.getTracks() : [])) {
    track.stop();
  }
  if (video.srcObject) {
    setStatus(`webcam stopped after ${page.frames} frames`);
  }
  video.srcObject = null;
  cameraButton.textContent = 'Start webcam';
}

async function main() {
  config = await (await fetch('config.json')).json();
  const wanted = query.get('backend') || 'webgl';
  let ok = false;
  try {
    ok = await tf.setBackend(wanted);
  } catch (err) {
    ok = false;
  }
  if (!ok) {
    await tf.setBackend('cpu');
  }
  await tf.ready();
  page.backend = tf.getBackend();
  net = await posenet.load({...config.load, modelUrl: 'model/model.json'});
  const load = config.load;
  document.getElementById('model').textContent =
      `${config.model} · output stride ${load.outputStride} · input ${load.inputResolution} px · ` +
      `weights ${config.quantize} · TF.js ${tf.version_core}, backend ${page.backend}`;
  document.getElementById('file').addEventListener('change', event => {
    const file = event.target.files[0];
    if (file) {
      stopCamera();
      runImage(URL.createObjectURL(file), file.name).catch(fail);
    }
  });
  cameraButton.addEventListener('click', () => (cameraOn ? stopCamera() : startCamera().catch(fail)));
  if (query.get('camera') === '1') {
    await startCamera();
  } else {
    await runImage(config.sample, config.sample);
  }
}

main().catch(fail);
