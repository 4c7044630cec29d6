/** The loopback STS and its token issuer, a development peer since the rehearsal and `demo` run it too. */
export * from '../../lib/dev/sts.ts';
