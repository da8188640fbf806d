// A real OpenID Connect provider (the npm package oidc-provider) for VectorOS's SSO tests.
// One confidential client; its dev login form signs in whoever types an email, with that email
// (email_verified: true, as a company IdP would claim for its own people).
// Environment: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS (comma-separated). Prints "ready <issuer>".
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

const configuration = {
  clients: [
    {
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: (process.env.REDIRECT_URIS || '').split(',').filter(Boolean),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  async findAccount(ctx, id) {
    const email = id.includes('@') ? id.toLowerCase() : `${id}@example.invalid`;
    const given = email.split('@')[0];
    return {
      accountId: id,
      async claims() {
        return { sub: id, email, email_verified: true, name: `${given} Tester`, given_name: given, family_name: 'Tester' };
      },
    };
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['vectoros-test-idp-only'] },
};

const provider = new Provider(issuer, configuration);
provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
