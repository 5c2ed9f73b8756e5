import { type Socket, connect } from 'node:net';

/** A connection failure as nodemailer reports its own, so that one classification serves both. */
export const connectError = (message: string, code: 'ECONNECTION' | 'ETIMEDOUT') =>
  Object.assign(new Error(message), { code, command: 'CONN' });

/**
 * IPv4 first, each family in the order given: a host whose IPv6 path is broken (common on servers with an AAAA
 * record and no IPv6 route) is then reached on its first try instead of after a timeout.
 */
export function dialOrder<A extends { family: number }>(addresses: A[]): A[] {
  return [...addresses.filter((a) => a.family === 4), ...addresses.filter((a) => a.family !== 4)];
}

/**
 * A TCP connection to the first of `addresses` that answers, tried in turn, all before `deadline` (epoch ms).
 * Each attempt gets an equal share of what is left, so one black-holed address cannot use up the whole budget
 * while another would have answered.
 */
export async function connectFirst(addresses: string[], port: number, deadline: number): Promise<Socket> {
  for (let i = 0; i < addresses.length; i++) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const share = i === addresses.length - 1 ? left : Math.max(Math.floor(left / (addresses.length - i)), 10);
    const socket = await attempt(addresses[i]!, port, share);
    if (socket) return socket;
  }
  throw Date.now() >= deadline ? connectError('Connection timeout', 'ETIMEDOUT') : connectError('Connection refused', 'ECONNECTION');
}

/** One connect: the socket, or null when it failed or took longer than `ms`. */
function attempt(address: string, port: number, ms: number): Promise<Socket | null> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      if (!ok) socket.destroy();
      resolve(ok ? socket : null);
    };
    const onError = () => done(false);
    const timer = setTimeout(() => done(false), ms);
    socket.once('connect', () => done(true));
    socket.once('error', onError);
  });
}
