// A libvirt domain name as gpu-hookd accepts it wherever one enters (the hook's calls over the bus,
// the config's vms sections, the CLI): 1 to 200 characters, no "/" and no control character. libvirt
// itself refuses "/" and a newline, but lets a tab or DEL through; a control character would reach
// logs, sentences and the hook's list of names as something other than the name.

const MAX_DOMAIN_NAME_CHARS = 200;
// C0 controls and DEL: the bytes a terminal, a log line or a line-based file reads as something else.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/** What is wrong with `name` as a clause ("holds a control character (U+0009)"), or undefined when nothing is. */
export function domainNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if ([...name].length > MAX_DOMAIN_NAME_CHARS) return `is longer than ${MAX_DOMAIN_NAME_CHARS} characters`;
  if (name.includes('/')) return 'holds a "/", which libvirt does not allow';
  const control = CONTROL.exec(name)?.[0];
  if (control !== undefined) return `holds a control character (U+${control.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}), which gpu-hookd does not accept`;
  return undefined;
}

/** The name quoted for a sentence, its control characters escaped ("win\t10"), long names cut. */
export function showDomainName(name: string): string {
  const cut = [...name].length > 60 ? `${[...name].slice(0, 60).join('')}...` : name;
  return JSON.stringify(cut).replace(/\x7f/g, '\\u007f');
}

/** What to do about a name with that problem. */
export function domainNameAdvice(name: string): string {
  return CONTROL.test(name) ? 'rename the domain to a name without it (virsh domrename)' : 'pass the name virsh shows';
}
