'use strict';
// Minimal .npy (format 1.0-3.0) reader/writer for little-endian, C-order arrays.
// Types: float32, float64, int64, int32, uint8, int8, bool (ONNX Runtime type names).
const fs = require('fs');

const DESCR = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array],
  '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array],
  '|u1': ['uint8', Uint8Array], '|i1': ['int8', Int8Array], '|b1': ['bool', Uint8Array],
};
const TYPE_TO_DESCR = Object.fromEntries(Object.entries(DESCR).map(([d, [t]]) => [t, d]));
const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // "\x93NUMPY"

// Returns {type, shape, data}; data is a fresh, aligned typed array.
function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new Error(`${file}: bad .npy header: ${header}`);
  const d = descr[1].replace(/^=/, '<');
  if (!DESCR[d]) throw new Error(`${file}: unsupported dtype ${descr[1]} (need little-endian ${Object.keys(DESCR).join(' ')})`);
  if (fortran[1] === 'True') throw new Error(`${file}: Fortran-order arrays are not supported`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const [type, Ctor] = DESCR[d];
  const count = dims.reduce((a, b) => a * b, 1);
  const start = buf.byteOffset + hstart + hlen;
  const bytes = count * Ctor.BYTES_PER_ELEMENT;
  if (hstart + hlen + bytes > buf.length) throw new Error(`${file}: truncated data`);
  return { type, shape: dims, data: new Ctor(buf.buffer.slice(start, start + bytes)) };
}

function writeNpy(file, type, shape, data) {
  const descr = TYPE_TO_DESCR[type];
  if (!descr) throw new Error(`cannot write ${type} to .npy (supported: ${Object.keys(TYPE_TO_DESCR).join(' ')})`);
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${tuple}, }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n'; // pad so data starts at a multiple of 64
  const pre = Buffer.alloc(10);
  MAGIC.copy(pre);
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}

module.exports = { readNpy, writeNpy };
