/**
 * Banks the simulators' windows offer (tPay and NICEPAY): KFTC 3-digit codes and PortOne names (spec §3.2).
 * OUR DESIGN: tPay's own bank-code table is UNCONFIRMED, so the window speaks KFTC codes in
 * `fnCd` for BANK and VBANK (the connector keeps its own copy of this table).
 */
export interface SimBank {
  code: string;
  name: string;
  /** English label for `language=EN` pages */
  en: string;
  /** offers virtual accounts (NICE's list as the ANALOGUE, spec §3.2) */
  vbank: boolean;
}

export const SIM_BANKS: readonly SimBank[] = [
  { code: '002', name: '산업은행', en: 'KDB', vbank: false },
  { code: '003', name: '기업은행', en: 'IBK', vbank: true },
  { code: '004', name: 'KB국민은행', en: 'KB Kookmin', vbank: true },
  { code: '007', name: '수협', en: 'Suhyup', vbank: false },
  { code: '011', name: '농협', en: 'NongHyup', vbank: true },
  { code: '012', name: '축협', en: 'NongHyup (local)', vbank: false },
  { code: '020', name: '우리은행', en: 'Woori', vbank: true },
  { code: '023', name: 'SC제일은행', en: 'SC First', vbank: true },
  { code: '027', name: '한국씨티은행', en: 'Citibank Korea', vbank: false },
  { code: '031', name: '대구은행', en: 'Daegu (iM Bank)', vbank: true },
  { code: '032', name: '부산은행', en: 'Busan', vbank: true },
  { code: '034', name: '광주은행', en: 'Gwangju', vbank: true },
  { code: '037', name: '전북은행', en: 'Jeonbuk', vbank: false },
  { code: '039', name: '경남은행', en: 'Kyongnam', vbank: false },
  { code: '045', name: '새마을금고', en: 'MG Saemaul', vbank: false },
  { code: '048', name: '신협', en: 'Shinhyup', vbank: false },
  { code: '071', name: '우체국', en: 'Korea Post', vbank: true },
  { code: '081', name: '하나은행', en: 'Hana', vbank: true },
  { code: '088', name: '신한은행', en: 'Shinhan', vbank: true },
  { code: '089', name: '케이뱅크', en: 'K Bank', vbank: true },
  { code: '090', name: '카카오뱅크', en: 'KakaoBank', vbank: false },
  { code: '092', name: '토스뱅크', en: 'Toss Bank', vbank: false },
];

const byCode = new Map(SIM_BANKS.map((b) => [b.code, b]));

export function bankByCode(code: string): SimBank | undefined {
  return byCode.get(code);
}

/** Banks a transfer may come from or a refund may go to. */
export function isRefundBank(code: string): boolean {
  return byCode.has(code);
}

export const VBANK_BANKS: readonly SimBank[] = SIM_BANKS.filter((b) => b.vbank);
export const DEFAULT_VBANK_CODE = '004';
