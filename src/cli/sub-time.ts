/**
 * The time parts of `starling sub -F`: when a message was received (wall clock with nanoseconds), ISO 8601
 * local time, mosquitto's JSON timestamp, and the `@X` strftime conversions in the C locale.
 */

/** When a message was received: `nanos` is the same instant in nanoseconds since the epoch. */
export interface ReceiveTime {
  now: Date;
  nanos: bigint;
}

/** The current time with nanoseconds counted from a monotonic clock anchored to the wall clock once. */
const anchor = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
export function receiveTime(): ReceiveTime {
  const nanos = anchor + process.hrtime.bigint();
  return { now: new Date(Number(nanos / 1_000_000n)), nanos };
}

function pad2(n: number): string {
  return n.toString().padStart(2, '0');
}

/** The local UTC offset as +hhmm. */
function offset(now: Date): string {
  const minutes = -now.getTimezoneOffset();
  const sign = minutes >= 0 ? '+' : '-';
  const abs = Math.abs(minutes);
  return `${sign}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`;
}

export function isoLocal(now: Date): string {
  return (
    `${now.getFullYear()}-${pad2(now.getMonth() + 1)}-${pad2(now.getDate())}T` +
    `${pad2(now.getHours())}:${pad2(now.getMinutes())}:${pad2(now.getSeconds())}${offset(now)}`
  );
}

/** mosquitto's JSON `tst`: local time with microseconds, then a literal `Z` and the offset. */
export function jsonTime(time: ReceiveTime): string {
  const micros = ((time.nanos / 1000n) % 1_000_000n).toString().padStart(6, '0');
  return `${isoLocal(time.now).slice(0, 19)}.${micros}Z${offset(time.now)}`;
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** The local time zone's abbreviation where the platform knows one (e.g. UTC, CET), else `GMT+1` style. */
function zoneName(now: Date): string {
  const parts = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(now);
  return parts.find((part) => part.type === 'timeZoneName')?.value ?? '';
}

/** One `@X` sequence: strftime's conversion `%X` in the C locale, plus `@N` nanoseconds. */
export function strftime(spec: string, time: ReceiveTime): string {
  const now = time.now;
  const hour12 = now.getHours() % 12 === 0 ? 12 : now.getHours() % 12;
  const hms = `${pad2(now.getHours())}:${pad2(now.getMinutes())}:${pad2(now.getSeconds())}`;
  const day = DAYS[now.getDay()] as string;
  const month = MONTHS[now.getMonth()] as string;
  switch (spec) {
    case 'a':
      return day.slice(0, 3);
    case 'A':
      return day;
    case 'b':
    case 'h':
      return month.slice(0, 3);
    case 'B':
      return month;
    case 'c':
      return `${day.slice(0, 3)} ${month.slice(0, 3)} ${now.getDate().toString().padStart(2, ' ')} ${hms} ${now.getFullYear()}`;
    case 'C':
      return pad2(Math.floor(now.getFullYear() / 100));
    case 'd':
      return pad2(now.getDate());
    case 'D':
      return `${pad2(now.getMonth() + 1)}/${pad2(now.getDate())}/${pad2(now.getFullYear() % 100)}`;
    case 'e':
      return now.getDate().toString().padStart(2, ' ');
    case 'F':
      return `${now.getFullYear()}-${pad2(now.getMonth() + 1)}-${pad2(now.getDate())}`;
    case 'H':
      return pad2(now.getHours());
    case 'I':
      return pad2(hour12);
    case 'j': {
      // Calendar days, counted in UTC so that a DST change in between does not shift the count.
      const y = now.getFullYear();
      const dayOfYear = (Date.UTC(y, now.getMonth(), now.getDate()) - Date.UTC(y, 0, 1)) / 86_400_000 + 1;
      return dayOfYear.toString().padStart(3, '0');
    }
    case 'k':
      return now.getHours().toString().padStart(2, ' ');
    case 'l':
      return hour12.toString().padStart(2, ' ');
    case 'm':
      return pad2(now.getMonth() + 1);
    case 'M':
      return pad2(now.getMinutes());
    case 'n':
      return '\n';
    case 'N':
      return (time.nanos % 1_000_000_000n).toString().padStart(9, '0');
    case 'p':
      return now.getHours() < 12 ? 'AM' : 'PM';
    case 'R':
      return hms.slice(0, 5);
    case 's':
      return String(Math.floor(now.getTime() / 1000));
    case 'S':
      return pad2(now.getSeconds());
    case 't':
      return '\t';
    case 'T':
      return hms;
    case 'u':
      return String(now.getDay() === 0 ? 7 : now.getDay());
    case 'w':
      return String(now.getDay());
    case 'y':
      return pad2(now.getFullYear() % 100);
    case 'Y':
      return String(now.getFullYear());
    case 'z':
      return offset(now);
    case 'Z':
      return zoneName(now);
    case '@':
      return '@';
    default:
      return `%${spec}`;
  }
}
