// Attaches a Sigstore bundle to an image as GitHub's actions/attest does
// (actions/attest src/attest.ts with push-to-registry): @sigstore/oci's
// attachArtifactToImage with the bundle's media type and the two
// dev.sigstore.bundle annotations, credentials from ~/.docker/config.json.
//
// node attach.mjs IMAGE_NAME IMAGE_DIGEST BUNDLE.json PREDICATE_TYPE
import fs from 'node:fs';
import { attachArtifactToImage, getRegistryCredentials } from '@sigstore/oci';

const [imageName, imageDigest, bundlePath, predicateType] = process.argv.slice(2);
const bundle = JSON.parse(fs.readFileSync(bundlePath, 'utf8'));
const descriptor = await attachArtifactToImage({
  credentials: getRegistryCredentials(imageName),
  imageName,
  imageDigest,
  artifact: Buffer.from(JSON.stringify(bundle)),
  mediaType: bundle.mediaType,
  annotations: {
    'dev.sigstore.bundle.content': 'dsse-envelope',
    'dev.sigstore.bundle.predicateType': predicateType,
  },
});
console.log(descriptor.digest);
