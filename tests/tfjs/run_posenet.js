// Loads TF.js exports with the official @tensorflow-models/posenet@2.2.2, as a web page would: posenet.load()
// with modelUrl pointing at an export's model.json served over HTTP (a tiny static server on 127.0.0.1), no file
// edited. Then, for each PNG photo, estimateMultiplePoses (or, with "raw": true, the outputs of posenet's own
// MobileNet wrapper, BaseModel.predict: normalisation, the graph, sigmoid; for photos of a valid input size).
//
//   node run_posenet.js job.json      (NODE_PATH: the node_modules of tests/tfjs/package-lock.json)
//
// job.json: {"root": folder served, "out": json path, "runs": [{"model": path of model.json under root,
//            "images": [png paths], "raw": bool, "load": {"outputStride", "multiplier", "inputResolution"},
//            "decode": {"maxDetections", "scoreThreshold", "nmsRadius"}}]}
// out: {"backend", "tfjs_version", "served": [paths requested], "runs": [[poses | raw outputs per image]]}
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const posenet = require('@tensorflow-models/posenet');
const {PNG} = require('pngjs');

function serve(folder, served) {
  const server = http.createServer((request, response) => {
    const name = decodeURIComponent(new URL(request.url, 'http://x').pathname).replace(/^\/+/, '');
    const file = path.join(folder, name);
    served.push(name);
    if (!file.startsWith(path.resolve(folder) + path.sep) || !fs.existsSync(file)) {
      response.writeHead(404);
      response.end();
      return;
    }
    // No keep-alive: a pooled connection idle through a long inference would be reset by the server's timeout.
    response.writeHead(200, {'Content-Type': name.endsWith('.json') ? 'application/json' : 'application/octet-stream',
                             'Connection': 'close'});
    response.end(fs.readFileSync(file));
  });
  return new Promise(resolve => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function readRgb(file) {
  const png = PNG.sync.read(fs.readFileSync(file));  // RGBA, 8 bit
  const rgb = new Int32Array(png.width * png.height * 3);
  for (let i = 0, j = 0; i < png.data.length; i += 4, j += 3) {
    rgb[j] = png.data[i];
    rgb[j + 1] = png.data[i + 1];
    rgb[j + 2] = png.data[i + 2];
  }
  return tf.tensor3d(rgb, [png.height, png.width, 3], 'int32');
}

async function run(spec, base) {
  const net = await posenet.load({architecture: 'MobileNetV1', ...spec.load, modelUrl: `${base}/${spec.model}`});
  const results = [];
  for (const file of spec.images) {
    const image = readRgb(file);
    if (spec.raw) {
      const out = net.baseModel.predict(image);
      const raw = {};
      for (const key of ['heatmapScores', 'offsets', 'displacementFwd', 'displacementBwd']) {
        raw[key] = {shape: out[key].shape, data: Array.from(await out[key].data())};
        out[key].dispose();
      }
      results.push(raw);
    } else {
      results.push(await net.estimateMultiplePoses(image, {flipHorizontal: false, ...spec.decode}));
    }
    image.dispose();
  }
  net.dispose();
  return results;
}

async function main() {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  await tf.setBackend('cpu');
  const served = [];
  const server = await serve(path.resolve(job.root), served);
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const runs = [];
    for (const spec of job.runs) {
      runs.push(await run(spec, base));
    }
    fs.writeFileSync(job.out, JSON.stringify({backend: tf.getBackend(), tfjs_version: tf.version_core, served, runs}));
  } finally {
    server.close();
  }
}

main().catch(err => {
  console.error(`error: ${err && err.message ? err.message : err}${err && err.cause ? ` (${err.cause})` : ''}`);
  process.exit(1);
});
