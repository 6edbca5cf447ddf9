import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { addTrustedKey, listTrustedKeys, removeTrustedKey, requiresSignature, setRequireSignature } from '../store/catalog/trust.js';
import { readPublicKey } from '../stream/sign/keys.js';
import { reply } from './catalog-cmd.js';
import { CommandContext } from './context.js';
import { usage } from './parse.js';
import { table } from './text.js';
import { withStore } from './store-cmd.js';

export function registerTrust(program: Command, ctx: CommandContext): void {
  const trust = program.command('trust').description('the public keys this store trusts to sign what it imports, and whether it requires a signature');

  trust
    .command('add')
    .description('trust a public key (check its fingerprint with the signer first: bootport key show FILE)')
    .argument('<pubfile>', 'NAME.pub')
    .option('--name <name>', 'the name to trust it under (default: the name in the file)')
    .action(
      ctx.action(async (opts, _cmd, file: string) => {
        const k = await readPublicKey(resolve(ctx.io.cwd, file));
        const name = opts.name ?? k.comment;
        if (!name) throw usage(`${file} names no key: give one with --name`);
        return withStore(ctx, opts, 'write', async (store) => {
          const v = await addTrustedKey(store, k.raw, name);
          return reply(ctx, opts, v, () => `trusting ${v.name} (${v.fingerprint})`);
        });
      }),
    );

  trust
    .command('ls')
    .description('list the trusted keys and the signature policy')
    .action(
      ctx.action(async (opts) =>
        withStore(ctx, opts, 'read', async (store) => {
          const { keys, required } = await store.read((tx) => ({ keys: listTrustedKeys(tx), required: requiresSignature(tx) }));
          return reply(ctx, opts, { keys, require_signature: required }, () =>
            [
              `signature required on import: ${required ? 'on' : 'off'}`,
              keys.length ? table([['NAME', 'FINGERPRINT', 'ADDED'], ...keys.map((k) => [k.name, k.fingerprint, k.added])]) : 'no trusted keys',
            ].join('\n'),
          );
        }),
      ),
    );

  trust
    .command('rm')
    .description('stop trusting a key, by name or fingerprint')
    .argument('<key>', 'NAME or FINGERPRINT')
    .action(
      ctx.action(async (opts, _cmd, sel: string) =>
        withStore(ctx, opts, 'write', async (store) => {
          const v = await removeTrustedKey(store, sel);
          return reply(ctx, opts, { ok: true, removed: v }, () => `no longer trusting ${v.name} (${v.fingerprint})`);
        }),
      ),
    );

  trust
    .command('require')
    .description('on: every import needs a valid signature by a trusted key; off: only with import --require-signature')
    .argument('<on|off>')
    .action(
      ctx.action(async (opts, _cmd, value: string) => {
        if (value !== 'on' && value !== 'off') throw usage('trust require takes on or off');
        return withStore(ctx, opts, 'write', async (store) => {
          await setRequireSignature(store, value === 'on');
          return reply(ctx, opts, { ok: true, require_signature: value === 'on' }, () => `signature required on import: ${value}`);
        });
      }),
    );
}
