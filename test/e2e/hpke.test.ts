import { describe, expect, it } from 'vitest';
import { E2EError } from '../../e2e/errors.js';
import {
  HPKE_AEAD_IDS,
  hpkeDeriveKeyPair,
  hpkeOpenBase,
  hpkeSealBase,
  setupBaseReceiver,
  setupBaseSender,
} from '../../e2e/hpke.js';
import { generateConsumerKeyPair } from '../../e2e/keys.js';

/**
 * RFC 9180 Appendix A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode (values
 * as published in the RFC's test-vector file, e.g. Go's crypto/internal/hpke/testdata/rfc9180-vectors.json).
 * RFC 9180 publishes no vector for the X25519 + AES-256-GCM suite the envelope uses; this one checks
 * DeriveKeyPair, the KEM, LabeledExtract/Expand, the key schedule and nonce sequencing, which the two
 * suites share (only the AEAD id and key length differ).
 */
const A11 = {
  info: '4f6465206f6e2061204772656369616e2055726e',
  ikmE: '7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234',
  pkEm: '37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431',
  skEm: '52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736',
  ikmR: '6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037',
  pkRm: '3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d',
  skRm: '4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8',
  enc: '37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431',
  sharedSecret: 'fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc',
  key: '4531685d41d65f03dc48f6b8302c05b0',
  baseNonce: '56d890e5accaaf011cff4b7d',
  exporterSecret: '45ff1c2e220db587171952c0592d5f5ebe103f1561a2614e38f2ffd47e99e3f8',
  plaintext: '4265617574792069732074727574682c20747275746820626561757479',
  encryptions: new Map<number, { aad: string; ciphertext: string }>([
    [
      0,
      {
        aad: '436f756e742d30',
        ciphertext:
          'f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a',
      },
    ],
    [
      1,
      {
        aad: '436f756e742d31',
        ciphertext:
          'af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca42c2063b84',
      },
    ],
    [
      2,
      {
        aad: '436f756e742d32',
        ciphertext:
          '498dfcabd92e8acedc281e85af1cb4e3e31c7dc394a1ca20e173cb72516491588d96a19ad4a683518973dcc180',
      },
    ],
    [
      4,
      {
        aad: '436f756e742d34',
        ciphertext:
          '583bd32bc67a5994bb8ceaca813d369bca7b2a42408cddef5e22f880b631215a09fc0012bc69fccaa251c0246d',
      },
    ],
    [
      255,
      {
        aad: '436f756e742d323535',
        ciphertext:
          '7175db9717964058640a3a11fb9007941a5d1757fda1a6935c805c21af32505bf106deefec4a49ac38d71c9e0a',
      },
    ],
    [
      256,
      {
        aad: '436f756e742d323536',
        ciphertext:
          '957f9800542b0b8891badb026d79cc54597cb2d225b54c00c5238c25d05c30e3fbeda97d2e0e1aba483a2df9f2',
      },
    ],
  ]),
};

const hex = (text: string): Buffer => Buffer.from(text, 'hex');

function codeOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (error instanceof E2EError) return error.code;
    throw error;
  }
  return 'no error';
}

describe('HPKE (RFC 9180) base mode', () => {
  it('uses the registered AEAD ids', () => {
    expect(HPKE_AEAD_IDS['aes-128-gcm']).toBe(0x0001);
    expect(HPKE_AEAD_IDS['aes-256-gcm']).toBe(0x0002);
  });

  it('DeriveKeyPair reproduces A.1.1 ephemeral and recipient keys', () => {
    const ephemeral = hpkeDeriveKeyPair(hex(A11.ikmE));
    expect(ephemeral.privateKey.toString('hex')).toBe(A11.skEm);
    expect(ephemeral.publicKey.toString('hex')).toBe(A11.pkEm);
    const recipient = hpkeDeriveKeyPair(hex(A11.ikmR));
    expect(recipient.privateKey.toString('hex')).toBe(A11.skRm);
    expect(recipient.publicKey.toString('hex')).toBe(A11.pkRm);
  });

  it('sender reproduces A.1.1 enc, shared secret, key schedule and every listed ciphertext', () => {
    const { enc, context } = setupBaseSender(hex(A11.pkRm), hex(A11.info), {
      aead: 'aes-128-gcm',
      ephemeralPrivateKey: hex(A11.skEm),
    });
    expect(enc.toString('hex')).toBe(A11.enc);
    expect(context.schedule.sharedSecret.toString('hex')).toBe(A11.sharedSecret);
    expect(context.schedule.key.toString('hex')).toBe(A11.key);
    expect(context.schedule.baseNonce.toString('hex')).toBe(A11.baseNonce);
    expect(context.schedule.exporterSecret.toString('hex')).toBe(A11.exporterSecret);
    let compared = 0;
    for (let sequence = 0; sequence <= 256; sequence++) {
      const listed = A11.encryptions.get(sequence);
      const ciphertext = context.seal(hex(listed?.aad ?? ''), hex(A11.plaintext));
      if (listed !== undefined) {
        expect(ciphertext.toString('hex')).toBe(listed.ciphertext);
        compared++;
      }
    }
    expect(compared).toBe(6);
  });

  it('receiver decapsulates A.1.1 and opens every listed ciphertext', () => {
    const context = setupBaseReceiver(hex(A11.enc), hex(A11.skRm), hex(A11.info), 'aes-128-gcm');
    expect(context.schedule.sharedSecret.toString('hex')).toBe(A11.sharedSecret);
    for (let sequence = 0; sequence <= 256; sequence++) {
      const listed = A11.encryptions.get(sequence);
      if (listed === undefined) {
        // Keep the receiver's sequence number in step with the sender's.
        expect(codeOf(() => context.open(Buffer.alloc(0), Buffer.alloc(16)))).toBe('DECRYPTION_FAILED');
        continue;
      }
      expect(context.open(hex(listed.aad), hex(listed.ciphertext)).toString('hex')).toBe(A11.plaintext);
    }
  });

  it('AES-256-GCM single-shot round trip; wrong key, wrong info, wrong aad and altered bytes fail', () => {
    const recipient = generateConsumerKeyPair();
    const other = generateConsumerKeyPair();
    const info = Buffer.from('test info');
    const aad = Buffer.from('header');
    const plaintext = Buffer.from('megolm session key goes here');
    const { enc, ciphertext } = hpkeSealBase(recipient.publicKey, info, aad, plaintext);
    expect(ciphertext).toHaveLength(plaintext.length + 16);
    expect(hpkeOpenBase(enc, recipient.privateKey, info, aad, ciphertext)).toEqual(plaintext);
    expect(codeOf(() => hpkeOpenBase(enc, other.privateKey, info, aad, ciphertext))).toBe(
      'DECRYPTION_FAILED',
    );
    expect(codeOf(() => hpkeOpenBase(enc, recipient.privateKey, Buffer.from('x'), aad, ciphertext))).toBe(
      'DECRYPTION_FAILED',
    );
    expect(codeOf(() => hpkeOpenBase(enc, recipient.privateKey, info, Buffer.from('x'), ciphertext))).toBe(
      'DECRYPTION_FAILED',
    );
    // Opened with the 128-bit suite, the same bytes must not decrypt (suite id is bound into the keys).
    expect(codeOf(() => hpkeOpenBase(enc, recipient.privateKey, info, aad, ciphertext, 'aes-128-gcm'))).toBe(
      'DECRYPTION_FAILED',
    );
    for (let i = 0; i < ciphertext.length; i++) {
      const altered = Buffer.from(ciphertext);
      altered[i]! ^= 0x01;
      expect(codeOf(() => hpkeOpenBase(enc, recipient.privateKey, info, aad, altered))).toBe(
        'DECRYPTION_FAILED',
      );
    }
    const alteredEnc = Buffer.from(enc);
    alteredEnc[0]! ^= 0x01;
    expect(codeOf(() => hpkeOpenBase(alteredEnc, recipient.privateKey, info, aad, ciphertext))).toBe(
      'DECRYPTION_FAILED',
    );
  });

  it('refuses a small-order (all-zero) peer key', () => {
    const recipient = generateConsumerKeyPair();
    const zero = Buffer.alloc(32);
    expect(
      codeOf(() =>
        hpkeOpenBase(zero, recipient.privateKey, Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(16)),
      ),
    ).toBe('DECRYPTION_FAILED');
    expect(codeOf(() => hpkeSealBase(zero, Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(1)))).toBe(
      'BAD_KEY',
    );
  });
});
