"""Static vocabularies the simulated company's world is built from: places, names, industries,
banks. Everything here is plain data; the draws happen in ``population``.

Characters used in generated Chinese names all come from these tables, which is why the
simplified→traditional table below can be small and still complete (it was derived once with
OpenCC's ``s2t`` and is checked against it by the tests when OpenCC is installed; keeping it here
makes the output independent of whether that optional package is present).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    name: str  # as in company names: 上海
    crm_name: str  # as sales reps type it in the CRM: 上海市
    region: str  # sales team region
    # Real 6-digit administrative division codes of the city's districts, with the first year
    # each code was in use (0: before 1980). USCCs use them as registration authority;
    # resident ID numbers as birthplace, which must have existed in the birth year.
    divisions: tuple[tuple[str, int], ...]


CITIES: tuple[City, ...] = (
    City("上海", "上海市", "华东", (("310101", 0), ("310104", 0), ("310105", 0), ("310106", 0), ("310107", 0),
                                  ("310109", 0), ("310110", 0), ("310112", 1981), ("310115", 1992))),
    City("北京", "北京市", "华北", (("110101", 0), ("110102", 0), ("110105", 0), ("110106", 0), ("110108", 0),
                                  ("110111", 1986))),
    City("天津", "天津市", "华北", (("120101", 0), ("120103", 0), ("120104", 0), ("120116", 2009))),
    City("深圳", "深圳市", "华南", (("440303", 1990), ("440304", 1990), ("440305", 1990), ("440306", 1992),
                                  ("440307", 1992))),
    City("广州", "广州市", "华南", (("440103", 1983), ("440104", 1983), ("440105", 1983), ("440106", 1985))),
    City("杭州", "杭州市", "华东", (("330102", 1983), ("330105", 1983), ("330106", 1983), ("330108", 1996))),
    City("苏州", "苏州市", "华东", (("320505", 2000), ("320506", 2000), ("320583", 1989))),
    City("南京", "南京市", "华东", (("320102", 1983), ("320104", 1983), ("320105", 1983), ("320106", 1983))),
    City("成都", "成都市", "西南", (("510104", 1990), ("510105", 1990), ("510106", 1990), ("510107", 1990))),
    City("武汉", "武汉市", "华中", (("420102", 1983), ("420103", 1983), ("420106", 1983), ("420111", 1983))),
    City("宁波", "宁波市", "华东", (("330203", 1983), ("330206", 1987), ("330212", 2002))),
    City("青岛", "青岛市", "华北", (("370202", 1983), ("370203", 1983), ("370211", 1983), ("370212", 1988))),
    City("重庆", "重庆市", "西南", (("500103", 1997),)),
    City("西安", "西安市", "西北", (("610102", 1983), ("610103", 1983), ("610113", 1983))),
    City("厦门", "厦门市", "华南", (("350203", 1983), ("350206", 1987))),
    City("东莞", "东莞市", "华南", (("441900", 1988),)),
    City("佛山", "佛山市", "华南", (("440604", 2002), ("440606", 2002))),
    City("无锡", "无锡市", "华东", (("320211", 2000), ("320213", 2015), ("320214", 2015))),
    City("长沙", "长沙市", "华中", (("430102", 1996), ("430104", 1996))),
    City("郑州", "郑州市", "华中", (("410102", 1983), ("410105", 1983))),
    City("合肥", "合肥市", "华东", (("340104", 2002), ("340111", 2002))),
    City("济南", "济南市", "华北", (("370102", 1983), ("370112", 1987))),
    City("福州", "福州市", "华南", (("350102", 1983), ("350104", 1983))),
    City("温州", "温州市", "华东", (("330302", 1984),)),
)
# Where the company's customers are: the coastal manufacturing belt first.
CITY_WEIGHTS = (14, 9, 4, 10, 8, 7, 7, 5, 4, 4, 4, 3, 3, 2, 3, 4, 3, 3, 2, 2, 2, 2, 2, 2)

# Brand characters with their pinyin (used for e-mail domains).
BRAND_CHARACTERS: tuple[tuple[str, str], ...] = (
    ("华", "hua"), ("信", "xin"), ("恒", "heng"), ("通", "tong"), ("鼎", "ding"), ("盛", "sheng"),
    ("瑞", "rui"), ("丰", "feng"), ("金", "jin"), ("桥", "qiao"), ("宏", "hong"), ("达", "da"),
    ("永", "yong"), ("泰", "tai"), ("新", "xin"), ("元", "yuan"), ("中", "zhong"), ("联", "lian"),
    ("远", "yuan"), ("航", "hang"), ("天", "tian"), ("成", "cheng"), ("博", "bo"), ("嘉", "jia"),
    ("禾", "he"), ("启", "qi"), ("明", "ming"), ("世", "shi"), ("德", "de"), ("润", "run"),
    ("凯", "kai"), ("安", "an"), ("富", "fu"), ("海", "hai"), ("东", "dong"), ("方", "fang"),
    ("汇", "hui"), ("源", "yuan"), ("宝", "bao"), ("利", "li"), ("兴", "xing"), ("隆", "long"),
    ("昌", "chang"), ("和", "he"), ("顺", "shun"), ("康", "kang"), ("力", "li"), ("诚", "cheng"),
    ("佳", "jia"), ("立", "li"), ("创", "chuang"), ("锦", "jin"), ("祥", "xiang"), ("益", "yi"),
    ("荣", "rong"), ("晶", "jing"), ("威", "wei"), ("万", "wan"), ("鑫", "xin"), ("正", "zheng"),
    ("光", "guang"), ("辉", "hui"), ("耀", "yao"), ("卓", "zhuo"), ("越", "yue"), ("精", "jing"),
    ("长", "chang"), ("江", "jiang"), ("南", "nan"), ("北", "bei"), ("亚", "ya"), ("欧", "ou"),
)


@dataclass(frozen=True)
class Industry:
    word: str  # the business in the company name: 电子科技
    short: str  # how people shorten it: 电子
    erp_sector: str  # GB/T 4754 sector as the ERP's 行业 field holds it
    crm_industry: str  # the CRM's (English) industry picklist value
    domain: str  # pinyin used in company e-mail domains


INDUSTRIES: tuple[Industry, ...] = (
    Industry("电子科技", "电子", "制造业", "Electronics", "tech"),
    Industry("机械设备", "机械", "制造业", "Machinery", "machinery"),
    Industry("化工", "化工", "制造业", "Chemicals", "chem"),
    Industry("纺织", "纺织", "制造业", "Textiles", "textile"),
    Industry("食品", "食品", "制造业", "Food & Beverage", "food"),
    Industry("建材", "建材", "批发和零售业", "Construction", "jiancai"),
    Industry("物流", "物流", "交通运输、仓储和邮政业", "Transportation", "logistics"),
    Industry("医药", "医药", "制造业", "Healthcare", "pharm"),
    Industry("汽车配件", "汽配", "制造业", "Automotive", "auto"),
    Industry("新能源", "新能源", "电力、热力、燃气及水生产和供应业", "Energy", "energy"),
    Industry("精密仪器", "仪器", "制造业", "Machinery", "instrument"),
    Industry("塑料制品", "塑料", "制造业", "Manufacturing", "plastic"),
    Industry("包装材料", "包装", "制造业", "Manufacturing", "pack"),
    Industry("五金制品", "五金", "制造业", "Manufacturing", "hardware"),
    Industry("电气", "电气", "制造业", "Electronics", "electric"),
    Industry("光电", "光电", "制造业", "Electronics", "opto"),
    Industry("环保科技", "环保", "科学研究和技术服务业", "Environmental", "eco"),
    Industry("贸易", "贸易", "批发和零售业", "Wholesale", "trading"),
    Industry("供应链管理", "供应链", "交通运输、仓储和邮政业", "Transportation", "scm"),
    Industry("信息技术", "信息", "信息传输、软件和信息技术服务业", "Technology", "it"),
    Industry("实业", "实业", "批发和零售业", "Wholesale", "group"),
    Industry("工贸", "工贸", "批发和零售业", "Wholesale", "trade"),
)

LEGAL_FORMS = ("有限公司", "有限责任公司", "股份有限公司")
LEGAL_FORM_WEIGHTS = (60, 25, 15)

SURNAMES: tuple[tuple[str, str], ...] = (
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
    ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"),
    ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("高", "gao"),
    ("林", "lin"), ("罗", "luo"), ("郑", "zheng"), ("梁", "liang"), ("谢", "xie"), ("宋", "song"),
    ("唐", "tang"), ("许", "xu"), ("韩", "han"), ("冯", "feng"), ("邓", "deng"), ("曹", "cao"),
    ("彭", "peng"), ("曾", "zeng"), ("肖", "xiao"), ("田", "tian"), ("董", "dong"), ("袁", "yuan"),
    ("潘", "pan"), ("于", "yu"), ("蒋", "jiang"), ("蔡", "cai"), ("余", "yu"), ("杜", "du"),
    ("叶", "ye"), ("程", "cheng"), ("苏", "su"), ("魏", "wei"), ("吕", "lv"), ("丁", "ding"),
    ("任", "ren"), ("沈", "shen"),
)
GIVEN_NAME_CHARACTERS: tuple[tuple[str, str], ...] = (
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"),
    ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"), ("艳", "yan"),
    ("杰", "jie"), ("娟", "juan"), ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("秀", "xiu"),
    ("霞", "xia"), ("平", "ping"), ("刚", "gang"), ("桂", "gui"), ("英", "ying"), ("华", "hua"),
    ("建", "jian"), ("文", "wen"), ("辉", "hui"), ("玲", "ling"), ("鹏", "peng"), ("飞", "fei"),
    ("斌", "bin"), ("宇", "yu"), ("浩", "hao"), ("凯", "kai"), ("健", "jian"), ("俊", "jun"),
    ("帆", "fan"), ("旭", "xu"), ("宁", "ning"), ("龙", "long"), ("欣", "xin"), ("婷", "ting"),
    ("雪", "xue"), ("琳", "lin"), ("晨", "chen"), ("悦", "yue"), ("佳", "jia"), ("怡", "yi"),
    ("梅", "mei"), ("颖", "ying"), ("倩", "qian"), ("瑞", "rui"), ("博", "bo"), ("昊", "hao"),
    ("子", "zi"), ("思", "si"), ("雨", "yu"), ("晓", "xiao"), ("海", "hai"), ("东", "dong"),
    ("国", "guo"), ("志", "zhi"), ("春", "chun"), ("红", "hong"), ("金", "jin"), ("永", "yong"),
)

CONTACT_TITLES = ("财务经理", "采购经理", "总经理", "出纳", "会计", "财务总监", "采购主管", "供应链经理")
FOREIGN_CONTACT_TITLES = ("Finance Manager", "Purchasing Manager", "Accounts Payable", "CFO", "Buyer")
SALES_TEAMS = ("华东区", "华南区", "华北区", "华中区", "西南区", "西北区")
FOREIGN_SALES_TEAM = "海外部"
FREE_MAIL_DOMAINS = ("163.com", "126.com", "qq.com", "sina.com", "foxmail.com")
# Real mobile number blocks (China Mobile, Unicom, Telecom).
MOBILE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "166", "176", "177", "178", "180", "181", "182", "183", "184",
    "185", "186", "187", "188", "189", "191", "193", "195", "198", "199",
)

# Characters clerks and payers mistype for one another (homophones and look-alikes).
CONFUSABLE_CHARACTERS = {
    "华": "化", "信": "心", "达": "大", "通": "同", "盛": "胜", "丰": "风", "宏": "红", "源": "元",
    "鑫": "新", "辉": "晖", "科": "可", "技": "枝", "锦": "金", "祥": "详", "荣": "容", "隆": "龙",
    "诚": "城", "瑞": "锐", "润": "闰", "汇": "惠", "博": "搏", "嘉": "佳", "耀": "曜", "精": "菁",
    "泰": "太", "昌": "长", "恒": "衡", "凯": "恺", "卓": "桌", "德": "得", "电": "点", "贸": "茂",
}

# Simplified → traditional for every company-name character above that differs (derived with
# OpenCC s2t). Personal names are never converted: surnames such as 于 and 余 must not become 於/餘.
TRADITIONAL = {
    "万": "萬", "业": "業", "东": "東", "丰": "豐", "亚": "亞", "仪": "儀", "兴": "興", "凯": "凱",
    "创": "創", "医": "醫", "华": "華", "厦": "廈", "启": "啓", "团": "團", "备": "備", "宁": "寧",
    "宝": "寶", "实": "實", "岛": "島", "广": "廣", "庆": "慶", "应": "應", "恒": "恆", "恺": "愷",
    "无": "無", "晖": "暉", "术": "術", "机": "機", "桥": "橋", "欧": "歐", "气": "氣", "汇": "匯",
    "汉": "漢", "济": "濟", "润": "潤", "温": "溫", "点": "點", "环": "環", "电": "電", "红": "紅",
    "纺": "紡", "织": "織", "联": "聯", "胜": "勝", "苏": "蘇", "荣": "榮", "药": "藥", "装": "裝",
    "设": "設", "诚": "誠", "详": "詳", "责": "責", "贸": "貿", "车": "車", "辉": "輝", "达": "達",
    "远": "遠", "郑": "鄭", "链": "鏈", "锐": "銳", "锡": "錫", "锦": "錦", "长": "長", "门": "門",
    "闰": "閏", "顺": "順", "风": "風", "龙": "龍",
}
FULL_WIDTH = {chr(code): chr(code + 0xFEE0) for code in range(0x21, 0x7F)} | {" ": "\u3000"}


@dataclass(frozen=True)
class ForeignCountry:
    code: str  # ISO 3166 alpha-2
    currency: str  # what the company invoices them in
    cities: tuple[str, ...]
    surnames: tuple[str, ...]
    business_words: tuple[str, ...]
    legal_forms: tuple[str, ...]
    first_names: tuple[str, ...]


FOREIGN_COUNTRIES: tuple[ForeignCountry, ...] = (
    ForeignCountry("DE", "EUR", ("Stuttgart", "München", "Hamburg", "Düsseldorf", "Nürnberg"),
                   ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Hoffmann", "Schäfer",
                    "Krüger", "Wagner"),
                   ("Maschinenbau", "Elektronik", "Antriebstechnik", "Kunststofftechnik", "Logistik", "Handels"),
                   ("GmbH", "AG", "GmbH & Co. KG"), ("Hans", "Jürgen", "Stefan", "Anna", "Katrin", "Michael")),
    ForeignCountry("FR", "EUR", ("Lyon", "Paris", "Toulouse", "Lille"),
                   ("Dupont", "Lefèvre", "Moreau", "Laurent", "Girard", "Bonnet"),
                   ("Industries", "Composants", "Électronique", "Distribution"), ("SAS", "SA", "SARL"),
                   ("Pierre", "Julien", "Claire", "Sophie", "Nicolas")),
    ForeignCountry("IT", "EUR", ("Milano", "Torino", "Bologna", "Brescia"),
                   ("Rossi", "Bianchi", "Ferrari", "Romano", "Colombo", "Ricci"),
                   ("Meccanica", "Componenti", "Elettronica", "Trasporti"), ("S.r.l.", "S.p.A."),
                   ("Marco", "Luca", "Giulia", "Francesca", "Andrea")),
    ForeignCountry("NL", "EUR", ("Rotterdam", "Eindhoven", "Amsterdam"),
                   ("Van der Berg", "De Vries", "Jansen", "Bakker", "Visser"),
                   ("Logistics", "Techniek", "Trading", "Components"), ("B.V.", "N.V."),
                   ("Jan", "Pieter", "Sanne", "Lotte", "Daan")),
    ForeignCountry("AT", "EUR", ("Wien", "Linz", "Graz"), ("Gruber", "Huber", "Steiner", "Moser"),
                   ("Anlagenbau", "Elektrotechnik", "Handel"), ("GmbH", "AG"),
                   ("Florian", "Lukas", "Eva", "Maria")),
    ForeignCountry("PL", "EUR", ("Warszawa", "Poznań", "Wrocław"), ("Kowalski", "Nowak", "Wiśniewski", "Zieliński"),
                   ("Elektronika", "Technika", "Handel"), ("Sp. z o.o.", "S.A."),
                   ("Piotr", "Tomasz", "Anna", "Katarzyna")),
    ForeignCountry("SE", "EUR", ("Göteborg", "Stockholm", "Malmö"), ("Andersson", "Johansson", "Lindqvist"),
                   ("Industri", "Teknik", "Komponenter"), ("AB",), ("Erik", "Lars", "Karin", "Emma")),
    ForeignCountry("GB", "USD", ("Birmingham", "Manchester", "Leeds"), ("Acme", "Britannia", "Thames", "Pennine"),
                   ("Components", "Engineering", "Supplies"), ("Ltd", "Limited", "PLC"),
                   ("James", "Oliver", "Emily", "Sarah")),
    ForeignCountry("US", "USD", ("Chicago", "Houston", "Detroit", "San Jose"),
                   ("Acme", "Pioneer", "Summit", "Liberty", "Atlas", "Great Lakes"),
                   ("Components", "Industries", "Supply", "Manufacturing", "Electronics"), ("Inc.", "LLC", "Corp."),
                   ("John", "Michael", "Jennifer", "David", "Laura")),
    ForeignCountry("SG", "USD", ("Singapore",), ("Lion City", "Straits", "Merlion", "Orchid"),
                   ("Trading", "Electronics", "Supply Chain"), ("Pte. Ltd.",), ("Wei Ming", "Siew Ling", "Kumar")),
    ForeignCountry("HK", "USD", ("Hong Kong", "Kowloon"), ("Pearl River", "Victoria", "Harbour", "Kowloon Bay"),
                   ("Trading", "Industrial", "Enterprises"), ("Limited", "Co., Limited"),
                   ("Ka Ming", "Wing Yan", "Chi Keung")),
)
FOREIGN_COUNTRY_WEIGHTS = (20, 8, 8, 6, 4, 4, 3, 6, 18, 8, 15)


@dataclass(frozen=True)
class CompanyAccount:
    """One of the company's own bank accounts, and how its bank reports it."""

    account_id: str  # as it appears in the statement (Acct/Id, :25:, 本方账号)
    currency: str
    format: str  # camt053.001.08, camt053.001.02, mt940, cnbank_csv
    bank_name: str
    bic: str


COMPANY_ACCOUNTS: tuple[CompanyAccount, ...] = (
    CompanyAccount("1001229309200123456", "CNY", "camt053.001.08", "中国工商银行上海分行", "ICBKCNBJSHI"),
    CompanyAccount("456358712345", "CNY", "camt053.001.02", "中国银行上海分行", "BKCHCNBJ300"),
    CompanyAccount("755912345610801", "CNY", "cnbank_csv", "招商银行上海分行", "CMBCCNBS"),
    CompanyAccount("808123456838", "USD", "mt940", "HSBC Hong Kong", "HSBCHKHHHKH"),
    CompanyAccount("808123456274", "EUR", "mt940", "HSBC Hong Kong", "HSBCHKHHHKH"),
)
# Share of Chinese customers paying into each CNY account (by the account on their invoices).
CNY_ACCOUNT_WEIGHTS = (50, 25, 25)

CREDIT_ANALYSTS = ("E10023", "E10057", "E10112", "E10148", "E10203")

# Suppliers and others the company pays from its accounts (outgoing debits on the statements).
SUPPLIER_NAMES = (
    "上海申通包装材料有限公司", "苏州恒力电子元件有限公司", "宁波港集装箱物流有限公司", "国网上海市电力公司",
    "上海市税务局", "中国平安财产保险股份有限公司", "深圳顺丰速运有限公司", "无锡新区精密模具有限公司",
)
FOREIGN_SUPPLIER_NAMES = ("SIEMENS AG", "MAERSK A/S", "DHL GLOBAL FORWARDING", "KUEHNE NAGEL LTD")
