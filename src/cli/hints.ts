import type { BootportError } from '../format/errors.js';
import type { TreeWarning } from '../stream/tree/pack-tree.js';

/**
 * The library names what a user can do as stable remedies and says it in neutral words; here each
 * remedy is said the way this command line does it, with its flags.
 */
export const REMEDY_PHRASES: Readonly<Record<string, string>> = {
  overwrite: 'pass --force to overwrite',
  'empty-directory': 'unpack into an empty directory',
  'new-directory': 'extract into a new or empty directory',
  'smaller-chunks': 'choose a smaller --chunk-size',
  'fallback-chunk-size': 'use --chunk-size 4M or less with the fallback engine',
  'report-bug': 'this is a bug in bootport: run again with --debug (or BOOTPORT_DEBUG=1) and report the stack it prints',
  'rename-boot-config': 'import it under another name with --boot-config NEW',
  'drop-image-name': 'leave out --image: the bundle was exported with --no-recurse',
  'rename-image': 'store the image under another name with --image NEW',
  'skip-image': 'skip the image with --no-recurse',
  'free-space': 'free space on the store file system',
  'choose-store': 'give --store a new or empty directory, or the directory of an existing store',
  'unfreeze-boot-config': 'unfreeze first: -i NAME update frozen=false',
  'unfreeze-image': 'unfreeze first: image -i NAME update frozen=false',
  'release-boot-configs': 'unfreeze frozen ones (frozen=false) and clear _boot_config on the nodes that boot them (node -i … clear _boot_config)',
  'list-boot-configs': 'list them with: bootport ls',
  'list-images': 'list them with: bootport image ls',
  'list-nodes': 'list them with: bootport node ls',
  'list-keys': 'list them with: bootport trust ls',
  'trust-key': "check the signer's fingerprint (bootport key show FILE), then bootport trust add FILE, or verify --trust FILE",
  'keep-setuid': 'keep them with --keep-setuid',
  'sign-at-export': 'export again with --split-size and --sign KEY, or sign the whole bundle before splitting it',
  'import-base': 'import the bundle this delta was written against first, or export again on the source without --have and --base',
  'repair-index': 'run bootport fsck --repair, which computes the chunk index again',
  'release-images': 'unfreeze frozen ones (frozen=false) and point the boot configs that use them at another image (update image=X)',
};

/** The hint to show for `e`: its remedies in this CLI's words, else its own neutral hint. */
export function hintFor(e: BootportError): string | undefined {
  const phrases = e.remedies.map((r) => REMEDY_PHRASES[r]);
  if (phrases.length && phrases.every((p) => p !== undefined)) return phrases.join(', or ');
  return e.hint;
}

/** `e.toJSON()` with the hint as this CLI gives it. */
export function errorJson(e: BootportError): Record<string, unknown> {
  const hint = hintFor(e);
  return { ...e.toJSON(), ...(hint ? { hint } : {}) };
}

/** A warning about one path of a directory tree, as a line for stderr. */
export function warningText(w: TreeWarning, where?: string): string {
  const phrase = (w.remedies ?? []).map((r) => REMEDY_PHRASES[r] ?? '').join(', or ');
  return `warning: ${where ? `${where}: ` : ''}${w.path} ${w.message}${phrase ? ` (${phrase})` : ''}`;
}
