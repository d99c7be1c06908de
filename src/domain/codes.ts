/**
 * KFTC (금융결제원) standard institution codes served by GET /cards and GET /banks
 * (spec/jtnet.md §3.1, §3.2). Names follow PortOne's tables; overseas card codes are PortOne's own.
 */
export interface StandardCode {
  code: string;
  name: string;
}

export const CARD_CODES: StandardCode[] = [
  { code: '361', name: 'BC카드' },
  { code: '364', name: '광주은행' },
  { code: '365', name: '삼성카드' },
  { code: '366', name: '신한카드' },
  { code: '367', name: '현대카드' },
  { code: '368', name: '롯데카드' },
  { code: '369', name: '수협' },
  { code: '370', name: '씨티카드' },
  { code: '371', name: 'NH농협카드' },
  { code: '372', name: '전북은행' },
  { code: '373', name: '제주은행' },
  { code: '374', name: '하나카드' },
  { code: '381', name: 'KB국민카드' },
  { code: '041', name: '우리카드' },
  { code: '071', name: '우체국' },
  { code: '045', name: '새마을금고' },
  { code: '048', name: '신협' },
  { code: '089', name: '케이뱅크' },
  { code: '090', name: '카카오뱅크' },
  { code: '002', name: 'KDB산업은행' },
  { code: '10001', name: '해외은련' },
  { code: '10002', name: '해외다이너스' },
  { code: '10003', name: '해외아멕스' },
  { code: '10004', name: '해외마스터' },
  { code: '10005', name: '해외비자' },
  { code: '10006', name: '해외JCB' },
];

/**
 * English names of the card companies, for the payment window with `language: 'en'` (GET /cards
 * keeps PortOne's Korean names). Romanized as the companies write themselves.
 */
export const CARD_NAMES_EN: Readonly<Record<string, string>> = {
  '361': 'BC Card',
  '364': 'Kwangju Bank',
  '365': 'Samsung Card',
  '366': 'Shinhan Card',
  '367': 'Hyundai Card',
  '368': 'Lotte Card',
  '369': 'Suhyup Bank',
  '370': 'Citi Card',
  '371': 'NH NongHyup Card',
  '372': 'Jeonbuk Bank',
  '373': 'Jeju Bank',
  '374': 'Hana Card',
  '381': 'KB Kookmin Card',
  '041': 'Woori Card',
  '071': 'Korea Post',
  '045': 'MG Saemaul Geumgo',
  '048': 'Shinhyup',
  '089': 'K bank',
  '090': 'KakaoBank',
  '002': 'KDB',
  '10001': 'UnionPay (overseas)',
  '10002': 'Diners Club (overseas)',
  '10003': 'American Express (overseas)',
  '10004': 'Mastercard (overseas)',
  '10005': 'Visa (overseas)',
  '10006': 'JCB (overseas)',
};

export const BANK_CODES: StandardCode[] = [
  { code: '002', name: '산업은행' },
  { code: '003', name: '기업은행' },
  { code: '004', name: 'KB국민은행' },
  { code: '007', name: '수협' },
  { code: '011', name: 'NH농협은행' },
  { code: '012', name: '지역농축협' },
  { code: '020', name: '우리은행' },
  { code: '023', name: 'SC제일은행' },
  { code: '027', name: '한국씨티은행' },
  { code: '031', name: '대구은행' },
  { code: '032', name: '부산은행' },
  { code: '034', name: '광주은행' },
  { code: '035', name: '제주은행' },
  { code: '037', name: '전북은행' },
  { code: '039', name: '경남은행' },
  { code: '045', name: '새마을금고' },
  { code: '048', name: '신협' },
  { code: '050', name: '상호저축은행' },
  { code: '071', name: '우체국' },
  { code: '081', name: '하나은행' },
  { code: '088', name: '신한은행' },
  { code: '089', name: '케이뱅크' },
  { code: '090', name: '카카오뱅크' },
  { code: '092', name: '토스뱅크' },
];
