// A local Sigstore for offline tests: @sigstore/mock's Fulcio v2, Rekor v1
// and TSA behind a plain HTTP server on 127.0.0.1.
//
// Usage: node server.mjs OUT_DIR [TIMEOUT_SECONDS] [--tsa-fractional-time]
// Writes trusted_root.json, signing_config.json, trust_config.json,
// trust_config.no-tsa.json (no TSA to sign with), rekor.pub and, last,
// `port` into OUT_DIR. Exits after the timeout (default 600 s) or on
// SIGTERM/SIGINT. Keys change at every start.
// --tsa-fractional-time keeps the mock's milliseconds in the TSA's genTime.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const mock = require('@sigstore/mock');
// pkijs is a dependency of the mock; resolve it from there.
const pkijs = createRequire(require.resolve('@sigstore/mock'))('pkijs');

const args = process.argv.slice(2);
const fractionalTime = args.includes('--tsa-fractional-time');
const [outDir, timeoutArg = '600'] = args.filter((a) => !a.startsWith('--'));
if (!outDir) {
  console.error('usage: node server.mjs OUT_DIR [TIMEOUT_SECONDS] [--tsa-fractional-time]');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });

const server = http.createServer();
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const port = server.address().port;
const base = `http://127.0.0.1:${port}`;
const tsaUrl = `${base}/api/v1/timestamp`;

const keys = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ctlog = await mock.initializeCTLog(keys());
const ca = await mock.initializeCA(keys(), ctlog);
const tlog = await mock.initializeTLog(base, keys());
const tsa = await mock.initializeTSA(keys());
const fulcio = mock.fulcioHandler(ca).fn;
const rekor = mock.rekorHandler(tlog).fn;
const tsaJson = mock.tsaHandler(tsa).fn;

// The mock puts a JavaScript number into the nonce; keep the request's exact INTEGER.
// It also writes milliseconds into genTime; Sigstore's TSA writes whole seconds.
const tsaProto = Object.getPrototypeOf(tsa);
const tstInfo = tsaProto.tstInfo;
tsaProto.tstInfo = function (req) {
  const der = 'nonceInteger' in req;
  const info = tstInfo.call(this, der ? { ...req, nonce: 0 } : req);
  if (der) info.nonce = req.nonceInteger;
  if (!fractionalTime) info.genTime = new Date(Math.floor(info.genTime.getTime() / 1000) * 1000);
  return info;
};

// Real Fulcio takes the token as a Bearer header and the CSR as base64 of PEM.
function fulcioRequest(body, headers) {
  const j = JSON.parse(body);
  const auth = headers.authorization || '';
  if (auth.startsWith('Bearer ')) {
    j.credentials = { oidcIdentityToken: auth.slice(7), ...j.credentials };
  }
  const csr = j.certificateSigningRequest;
  if (typeof csr === 'string' && !csr.includes('-----BEGIN')) {
    j.certificateSigningRequest = Buffer.from(csr, 'base64').toString();
  }
  return JSON.stringify(j);
}

// Rekor stores hashedrekord 0.0.1 canonicalized: known fields only, PEM re-encoded.
function canonicalPem(b64) {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(Buffer.from(b64, 'base64').toString());
  if (!m) throw new Error('publicKey.content is not base64 of a PEM block');
  const lines = Buffer.from(m[2].replace(/\s+/g, ''), 'base64').toString('base64').match(/.{1,64}/g);
  return Buffer.from(`-----BEGIN ${m[1]}-----\n${lines.join('\n')}\n-----END ${m[1]}-----\n`).toString('base64');
}
function rekorRequest(body) {
  const e = JSON.parse(body);
  if (e.kind !== 'hashedrekord' || e.apiVersion !== '0.0.1') {
    throw new Error(`this mock logs hashedrekord 0.0.1 only, not ${e.kind} ${e.apiVersion}`);
  }
  const { data, signature } = e.spec;
  return JSON.stringify({
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: data.hash.algorithm, value: data.hash.value } },
      signature: { content: signature.content, publicKey: { content: canonicalPem(signature.publicKey.content) } },
    },
  });
}

// The mock TSA takes JSON only; DER TimeStampReq (RFC 3161) is what clients send.
async function tsaDer(body) {
  const q = pkijs.TimeStampReq.fromBER(body);
  const resp = await tsa.timestamp({
    artifactHash: Buffer.from(q.messageImprint.hashedMessage.valueBlock.valueHexView),
    hashAlgorithmOID: q.messageImprint.hashAlgorithm.algorithmId,
    nonceInteger: q.nonce,
    policyOID: q.reqPolicy || '1.3.6.1.4.1.57264.2',
    certReq: q.certReq ?? false,
  });
  return { statusCode: 200, response: resp, contentType: 'application/timestamp-reply' };
}

async function route(req, body) {
  if (req.method !== 'POST') return { statusCode: 405, response: 'POST only' };
  switch (req.url) {
    case '/api/v2/signingCert':
      return fulcio(fulcioRequest(body.toString(), req.headers));
    case '/api/v1/log/entries':
      return rekor(rekorRequest(body.toString()));
    case '/api/v1/timestamp':
      return (req.headers['content-type'] || '').includes('json') ? tsaJson(body.toString()) : tsaDer(body);
    default:
      return { statusCode: 404, response: `no route ${req.url}` };
  }
}

server.on('request', (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    let r;
    try {
      r = await route(req, Buffer.concat(chunks));
    } catch (e) {
      r = { statusCode: 400, response: String(e?.message ?? e) };
    }
    res.writeHead(r.statusCode, { 'Content-Type': r.contentType || 'text/plain' });
    res.end(r.response);
  });
});

// Trust material. Times start a minute back to absorb clock skew.
const start = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000).toISOString().replace('.000Z', 'Z');
const b64 = (b) => Buffer.from(b).toString('base64');
const sha256 = (b) => crypto.createHash('sha256').update(b).digest();
const rekorKey = tlog.publicKey;
const trustedRoot = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [{
    baseUrl: base,
    hashAlgorithm: 'SHA2_256',
    publicKey: { rawBytes: b64(rekorKey), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } },
    logId: { keyId: b64(sha256(rekorKey)) },
  }],
  certificateAuthorities: [{
    subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
    uri: base,
    certChain: { certificates: [{ rawBytes: b64(ca.rootCertificate) }] },
    validFor: { start },
  }],
  ctlogs: [{
    baseUrl: base,
    hashAlgorithm: 'SHA2_256',
    publicKey: { rawBytes: b64(ctlog.publicKey), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } },
    logId: { keyId: b64(ctlog.logID) },
  }],
  timestampAuthorities: [{
    subject: { organization: 'sigstore.mock', commonName: 'tsa' },
    uri: tsaUrl,
    certChain: { certificates: [{ rawBytes: b64(tsa.intCertificate) }, { rawBytes: b64(tsa.rootCertificate) }] },
    validFor: { start },
  }],
};
const service = (url) => ({ url, majorApiVersion: 1, validFor: { start }, operator: 'sigstore.mock' });
const signingConfig = {
  mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json',
  caUrls: [service(base)],
  oidcUrls: [],
  rekorTlogUrls: [service(base)],
  tsaUrls: [service(tsaUrl)],
  rekorTlogConfig: { selector: 'ANY' },
  tsaConfig: { selector: 'ANY' },
};
const trustConfig = {
  mediaType: 'application/vnd.dev.sigstore.clienttrustconfig.v0.1+json',
  trustedRoot,
  signingConfig,
};
const write = (name, text) => {
  fs.writeFileSync(path.join(outDir, `${name}.tmp`), text);
  fs.renameSync(path.join(outDir, `${name}.tmp`), path.join(outDir, name));
};
write('trusted_root.json', JSON.stringify(trustedRoot, null, 2));
write('signing_config.json', JSON.stringify(signingConfig, null, 2));
write('trust_config.json', JSON.stringify(trustConfig, null, 2));
const noTsa = { ...trustConfig, signingConfig: { ...signingConfig, tsaUrls: [] } };
write('trust_config.no-tsa.json', JSON.stringify(noTsa, null, 2));
write('rekor.pub', `-----BEGIN PUBLIC KEY-----\n${b64(rekorKey).match(/.{1,64}/g).join('\n')}\n-----END PUBLIC KEY-----\n`);
write('port', `${port}\n`);
console.error(`sigstore mock on ${base}, files in ${outDir}`);

const stop = () => {
  server.close();
  process.exit(0);
};
setTimeout(stop, Number(timeoutArg) * 1000);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
