import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { generateKeyPair, readPublicKey } from '../stream/sign/keys.js';
import { reply } from './catalog-cmd.js';
import { CommandContext } from './context.js';

export function registerKey(program: Command, ctx: CommandContext): void {
  const key = program.command('key').description('signing keys: generate a key pair, show a key fingerprint');

  key
    .command('generate')
    .description('write NAME.key (the private key, mode 0600) and NAME.pub (the public key to hand out)')
    .argument('<name>', "the key name, also the files' names")
    .option('-C, --directory <dir>', 'where to write the two files', '.')
    .action(
      ctx.action(async (opts, _cmd, name: string) => {
        const k = await generateKeyPair(name, resolve(ctx.io.cwd, opts.directory));
        return reply(
          ctx,
          opts,
          { ok: true, private_key: k.keyPath, public_key: k.pubPath, fingerprint: k.fingerprint },
          () => `wrote ${k.keyPath} (private: keep it, never share it) and ${k.pubPath}\nfingerprint ${k.fingerprint}`,
        );
      }),
    );

  key
    .command('show')
    .description("print the fingerprint of a public key (or of a private key's public half), to compare over the phone")
    .argument('<file>', 'NAME.pub or NAME.key')
    .action(
      ctx.action(async (opts, _cmd, file: string) => {
        const k = await readPublicKey(resolve(ctx.io.cwd, file));
        return reply(ctx, opts, { ok: true, fingerprint: k.fingerprint, comment: k.comment, algorithm: 'ed25519' }, () => `${k.fingerprint}  ${k.comment}`);
      }),
    );
}
