import { type Readable, Transform, pipeline } from 'node:stream';
import type Mail from 'nodemailer/lib/mailer';

/**
 * A nodemailer plugin that hands the SMTP connection each message as one chunk. Nodemailer streams a message
 * part by part, and its connection writes every chunk as it comes: a two-part email was nine socket writes,
 * each one, over loopback or to a relay, a system call and a wake-up of the receiver (bench:http counted ten
 * writes per email in the server and four in the SMTP server). Our messages are built from a request body held
 * in memory anyway; gathering them costs no more than they already take.
 */
export const wholeMessage: Mail.PluginFunction = (mail, done) => {
  mail.message.processFunc((input: Readable) => {
    const chunks: Buffer[] = [];
    const gathered = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
      flush(callback) {
        callback(null, Buffer.concat(chunks));
      },
    });
    // An error of the message's sources destroys `gathered` with it, which the connection then reports.
    return pipeline(input, gathered, () => {});
  });
  done();
};
