/**
 * The simulators' card-company table: tPay's 2-digit card code (`card_code`, `app_co`) and name.
 * These are NICE's 2-digit card codes (nicepay spec §8.13), so the NICEPAY simulator answers
 * `cardCode`/`cardName` from the same rows.
 *
 * OUR DESIGN. tPay's real table is UNCONFIRMED (spec §2.1, §7). It is modelled on NICE Payments'
 * 2-digit card code list (ANALOGUE: tPay merged into NICE and its naming follows NICE's). The
 * simulator derives the KFTC code from the test PAN (`9CCC…`) and answers with the tPay code;
 * the connector maps it back to KFTC with its own copy of the table (connectors never import
 * simulator code).
 */
export interface TpayCardCompany {
  /** tPay 2-digit card code */
  tpayCode: string;
  /** tPay's own short name, as the simulator sends it in `card_name` / `app_co_name` */
  tpayName: string;
  /** the same in English, for the window with `language=EN` (OUR DESIGN) */
  tpayNameEn: string;
  /** KFTC 3-digit code, or PortOne's 1000x code for overseas brands */
  kftcCode: string;
}

export const TPAY_CARD_COMPANIES: readonly TpayCardCompany[] = [
  { tpayCode: '01', tpayName: '비씨', tpayNameEn: 'BC', kftcCode: '361' },
  { tpayCode: '02', tpayName: 'KB국민', tpayNameEn: 'KB Kookmin', kftcCode: '381' },
  { tpayCode: '03', tpayName: '하나(외환)', tpayNameEn: 'Hana (KEB)', kftcCode: '374' },
  { tpayCode: '04', tpayName: '삼성', tpayNameEn: 'Samsung', kftcCode: '365' },
  { tpayCode: '06', tpayName: '신한', tpayNameEn: 'Shinhan', kftcCode: '366' },
  { tpayCode: '07', tpayName: '현대', tpayNameEn: 'Hyundai', kftcCode: '367' },
  { tpayCode: '08', tpayName: '롯데', tpayNameEn: 'Lotte', kftcCode: '368' },
  { tpayCode: '11', tpayName: '씨티', tpayNameEn: 'Citi', kftcCode: '370' },
  { tpayCode: '12', tpayName: 'NH채움', tpayNameEn: 'NH Chaeum', kftcCode: '371' },
  { tpayCode: '13', tpayName: '수협', tpayNameEn: 'Suhyup', kftcCode: '369' },
  { tpayCode: '14', tpayName: '신협', tpayNameEn: 'Shinhyup', kftcCode: '048' },
  { tpayCode: '15', tpayName: '우리', tpayNameEn: 'Woori', kftcCode: '041' },
  { tpayCode: '21', tpayName: '광주', tpayNameEn: 'Kwangju', kftcCode: '364' },
  { tpayCode: '22', tpayName: '전북', tpayNameEn: 'Jeonbuk', kftcCode: '372' },
  { tpayCode: '23', tpayName: '제주', tpayNameEn: 'Jeju', kftcCode: '373' },
  { tpayCode: '25', tpayName: '해외비자', tpayNameEn: 'Visa (overseas)', kftcCode: '10005' },
  { tpayCode: '26', tpayName: '해외마스터', tpayNameEn: 'Mastercard (overseas)', kftcCode: '10004' },
  { tpayCode: '27', tpayName: '해외다이너스', tpayNameEn: 'Diners (overseas)', kftcCode: '10002' },
  { tpayCode: '28', tpayName: '해외AMX', tpayNameEn: 'AMEX (overseas)', kftcCode: '10003' },
  { tpayCode: '29', tpayName: '해외JCB', tpayNameEn: 'JCB (overseas)', kftcCode: '10006' },
  { tpayCode: '32', tpayName: '우체국', tpayNameEn: 'Korea Post', kftcCode: '071' },
  { tpayCode: '34', tpayName: '은련', tpayNameEn: 'UnionPay', kftcCode: '10001' },
  { tpayCode: '35', tpayName: '새마을금고', tpayNameEn: 'MG Saemaul Geumgo', kftcCode: '045' },
  { tpayCode: '36', tpayName: 'KDB산업', tpayNameEn: 'KDB', kftcCode: '002' },
  { tpayCode: '37', tpayName: '카카오뱅크', tpayNameEn: 'KakaoBank', kftcCode: '090' },
  { tpayCode: '38', tpayName: '케이뱅크', tpayNameEn: 'K bank', kftcCode: '089' },
];

const byKftc = new Map(TPAY_CARD_COMPANIES.map((c) => [c.kftcCode, c]));
const byTpay = new Map(TPAY_CARD_COMPANIES.map((c) => [c.tpayCode, c]));

/** KFTC codes of domestic issuers a `9CCC…` test PAN may name. */
export const DOMESTIC_KFTC_CODES: readonly string[] = TPAY_CARD_COMPANIES.filter((c) => c.kftcCode.length === 3).map(
  (c) => c.kftcCode,
);

export function companyByKftc(kftcCode: string): TpayCardCompany | undefined {
  return byKftc.get(kftcCode);
}

export function companyByTpayCode(tpayCode: string): TpayCardCompany | undefined {
  return byTpay.get(tpayCode);
}
