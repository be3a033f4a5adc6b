/**
 * A one-file zip archive written the way the deployment writes it: serverless-esbuild packs each
 * function with archiver, whose zip stream deflates at zlib level 1 (`Z_BEST_SPEED`, the default
 * of compress-commons) and streams each entry with a data descriptor, dated 1980-01-01 (archiver
 * is given the epoch, which zip dates cannot go below). The archive here is the same, byte for
 * byte, as the one `serverless package` makes from the same bundle.
 */
import { crc32, deflateRawSync } from 'node:zlib';

export { crc32 };

/** DOS date of 1980-01-01 (day 1, month 1, year 0), time 00:00. */
const DOS_DATE = (1 << 5) | 1;
const DOS_TIME = 0;
/** General purpose flag bit 3: sizes and CRC follow the data in a data descriptor. */
const DATA_DESCRIPTOR_FLAG = 0x0008;
const DEFLATE = 8;
const VERSION = 20;
/** "Made by" Unix, zip 4.5, as archiver writes it. */
const MADE_BY = (3 << 8) | 45;
/** MS-DOS "archive" attribute, which archiver sets beside the Unix mode. */
const DOS_ARCHIVE = 0x20;

/** The zip archive holding `data` as `name`, with the Unix file `mode` (type and permission bits). */
export function zipOneFile(name: string, data: Uint8Array, mode = 0o100644): Buffer {
  const fileName = Buffer.from(name, 'utf8');
  const compressed = deflateRawSync(data, { level: 1 });
  const crc = crc32(data);

  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(VERSION, 4);
  local.writeUInt16LE(DATA_DESCRIPTOR_FLAG, 6);
  local.writeUInt16LE(DEFLATE, 8);
  local.writeUInt16LE(DOS_TIME, 10);
  local.writeUInt16LE(DOS_DATE, 12);
  // CRC and sizes are zero here: they follow in the data descriptor.
  local.writeUInt16LE(fileName.length, 26);

  const descriptor = Buffer.alloc(16);
  descriptor.writeUInt32LE(0x08074b50, 0);
  descriptor.writeUInt32LE(crc, 4);
  descriptor.writeUInt32LE(compressed.length, 8);
  descriptor.writeUInt32LE(data.length, 12);

  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(MADE_BY, 4);
  central.writeUInt16LE(VERSION, 6);
  central.writeUInt16LE(DATA_DESCRIPTOR_FLAG, 8);
  central.writeUInt16LE(DEFLATE, 10);
  central.writeUInt16LE(DOS_TIME, 12);
  central.writeUInt16LE(DOS_DATE, 14);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(compressed.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(fileName.length, 28);
  central.writeUInt32LE(((mode << 16) | DOS_ARCHIVE) >>> 0, 38);
  // The local header is at offset 0 (bytes 42..45 stay zero).

  const centralOffset = local.length + fileName.length + compressed.length + descriptor.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + fileName.length, 12);
  end.writeUInt32LE(centralOffset, 16);

  return Buffer.concat([local, fileName, compressed, descriptor, central, fileName, end]);
}
