// esbuild options for the Lambda bundles, shared by serverless-esbuild (serverless.yml `custom.esbuild.config`)
// and the benchmark, so what is measured is what is deployed.
// `module` first in mainFields lets esbuild take the ES-module build of fast-json-patch and drop what is unused.
module.exports = () => ({
  minify: true,
  sourcemap: false,
  target: 'node22',
  platform: 'node',
  format: 'cjs',
  mainFields: ['module', 'main'],
  legalComments: 'none',
});
