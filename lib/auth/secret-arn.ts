/**
 * Which region a secret is read from. Secrets Manager does not route by the ARN: a client of the
 * function's region cannot read a secret of another region, even named by its full ARN (every read
 * fails). So a secret named by its ARN is read in the ARN's region, with a client whose endpoint
 * and signing scope are that region's; a secret named by its name lives in the function's region.
 */
const SECRET_ARN = /^arn:aws(?:-[a-z]+)*:secretsmanager:([a-z0-9-]+):\d{12}:secret:/;

/** The region in a secret ARN, or undefined for a secret name (the client's own region applies). */
export function secretRegion(secretId: string): string | undefined {
  return SECRET_ARN.exec(secretId)?.[1];
}
