/** Commands that run or talk to the HTTP service; loaded only when asked for, so local commands start fast. */
export async function runServiceCommand(command: string, argv: string[], usage: string): Promise<number> {
  if (command === 'serve') {
    const { runServe } = await import('./server.js');
    return runServe(argv);
  }
  const { runClient } = await import('./client.js');
  const code = await runClient(command, argv);
  if (code === 2) console.error(usage);
  return code;
}
