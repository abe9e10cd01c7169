// Verifies a Sigstore DSSE bundle with @sigstore/verify, as sigstore-js
// clients do, and checks that its in-toto statement names DIGEST
// (@sigstore/verify checks the signature over the DSSE envelope, not the
// subject).
//
// node verify.mjs TRUSTED_ROOT.json BUNDLE.json IDENTITY ISSUER sha256:DIGEST
import fs from 'node:fs';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';

const [rootPath, bundlePath, identity, issuer, digest] = process.argv.slice(2);
const root = TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(rootPath, 'utf8')));
const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
const verifier = new Verifier(toTrustMaterial(root), { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 });
verifier.verify(toSignedEntity(bundle), { subjectAlternativeName: identity, extensions: { issuer } });
const statement = JSON.parse(Buffer.from(bundle.content.dsseEnvelope.payload).toString('utf8'));
const hex = digest.replace(/^sha256:/, '');
if (!statement.subject.some((s) => s.digest && s.digest.sha256 === hex)) {
  throw new Error(`the statement does not name ${digest}`);
}
console.log(`verified: ${statement.predicateType}`);
