//! The demo tenant's fixed set-up: business units, channels, queues, bot steps and
//! campaigns (the lookups), the agents and other users, the agents' skill groups, and
//! the customers. A fictitious Hungarian energy retailer, "Danubia Energy", runs the
//! contact center.

use std::collections::BTreeSet;

use super::calendar::{Calendar, DAY, HOUR, MINUTE, local_to_utc};
use super::rng::{Rng, mix};

/// Media groups: what an agent is skilled for and how a bot step is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mg {
    Voice,
    Chat,
    Email,
}

impl Mg {
    pub fn name(self) -> &'static str {
        match self {
            Mg::Voice => "Voice",
            Mg::Chat => "Chat",
            Mg::Email => "Email",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Media {
    Voice,
    Webchat,
    Viber,
    Facebook,
    Email,
}

impl Media {
    pub fn channel_type(self) -> &'static str {
        match self {
            Media::Voice => "Voice",
            Media::Webchat => "Webchat",
            Media::Viber => "Viber",
            Media::Facebook => "Facebook",
            Media::Email => "Email",
        }
    }

    /// `Workitems.mediaType` (lower case, as in the source; Facebook is `messenger`).
    pub fn task_media(self) -> &'static str {
        match self {
            Media::Voice => "voice",
            Media::Webchat => "webchat",
            Media::Viber => "viber",
            Media::Facebook => "messenger",
            Media::Email => "email",
        }
    }

    pub fn group(self) -> Mg {
        match self {
            Media::Voice => Mg::Voice,
            Media::Webchat | Media::Viber | Media::Facebook => Mg::Chat,
            Media::Email => Mg::Email,
        }
    }
}

pub(super) struct BusinessUnit {
    pub id: &'static str,
    pub name: &'static str,
}

pub(super) static BUSINESS_UNITS: [BusinessUnit; 4] = [
    BusinessUnit {
        id: "bu-01",
        name: "Residential",
    },
    BusinessUnit {
        id: "bu-02",
        name: "Business",
    },
    BusinessUnit {
        id: "bu-03",
        name: "Technical Support",
    },
    BusinessUnit {
        id: "bu-04",
        name: "Collections",
    },
];

pub(super) struct Channel {
    pub id: &'static str,
    pub name: &'static str,
    pub media: Media,
    pub bu: Option<usize>,
    pub phones: &'static [&'static str],
    /// Queues of the channel's workflow; the first is where transferred contacts land.
    pub queues: &'static [usize],
    /// Where agents transfer, and the workflow redirects, contacts of this channel.
    pub transfer_to: usize,
    /// Whether the workflow checks opening hours (the collections line does not).
    pub opening_check: bool,
    /// Whether callers waiting in queue are offered a callback.
    pub callback: bool,
    /// Queue that takes over when the first queue times out.
    pub overflow: Option<usize>,
}

pub(super) const CH_RESIDENTIAL: usize = 0;
pub(super) const CH_BUSINESS: usize = 1;
pub(super) const CH_SUPPORT: usize = 2;
pub(super) const CH_COLLECTIONS: usize = 3;
pub(super) const CH_WEBCHAT: usize = 4;
pub(super) const CH_BUSINESS_CHAT: usize = 5;
pub(super) const CH_SUPPORT_CHAT: usize = 6;
pub(super) const CH_VIBER: usize = 7;
pub(super) const CH_FACEBOOK_OLD: usize = 8;
pub(super) const CH_FACEBOOK: usize = 9;
pub(super) const CH_MAIL: usize = 10;
pub(super) const CH_BUSINESS_MAIL: usize = 11;
pub(super) const CH_SUPPORT_MAIL: usize = 12;
pub(super) const CH_SWITCHBOARD: usize = 13;

pub(super) static CHANNELS: [Channel; 14] = [
    Channel {
        id: "ch-01",
        name: "Residential Hotline",
        media: Media::Voice,
        bu: Some(0),
        phones: &["+3612345100", "+3680123100"],
        queues: &[Q_GENERAL, Q_BILLING, Q_OVERFLOW],
        transfer_to: CH_SUPPORT,
        opening_check: true,
        callback: true,
        overflow: Some(Q_OVERFLOW),
    },
    Channel {
        id: "ch-02",
        name: "Business Line",
        media: Media::Voice,
        bu: Some(1),
        phones: &["+3612345200"],
        queues: &[Q_ACCOUNT_MANAGERS],
        transfer_to: CH_RESIDENTIAL,
        opening_check: true,
        callback: false,
        overflow: None,
    },
    Channel {
        id: "ch-03",
        name: "Technical Support Line",
        media: Media::Voice,
        bu: Some(2),
        phones: &["+3612345300", "+3680123300"],
        queues: &[Q_INTERNET_TV, Q_MOBILE, Q_LEGACY_DSL],
        transfer_to: CH_RESIDENTIAL,
        opening_check: true,
        callback: true,
        overflow: None,
    },
    Channel {
        id: "ch-04",
        name: "Collections Line",
        media: Media::Voice,
        bu: Some(3),
        phones: &["+3612345400"],
        queues: &[Q_COLLECTIONS],
        transfer_to: CH_RESIDENTIAL,
        opening_check: false,
        callback: false,
        overflow: None,
    },
    Channel {
        id: "ch-05",
        name: "Website Chat",
        media: Media::Webchat,
        bu: Some(0),
        phones: &[],
        queues: &[8],
        transfer_to: CH_SUPPORT_CHAT,
        opening_check: true,
        callback: false,
        overflow: None,
    },
    Channel {
        id: "ch-06",
        name: "Business Portal Chat",
        media: Media::Webchat,
        bu: Some(1),
        phones: &[],
        queues: &[9],
        transfer_to: CH_WEBCHAT,
        opening_check: true,
        callback: false,
        overflow: None,
    },
    Channel {
        id: "ch-07",
        name: "Support Chat",
        media: Media::Webchat,
        bu: Some(2),
        phones: &[],
        queues: &[10],
        transfer_to: CH_WEBCHAT,
        opening_check: true,
        callback: false,
        overflow: None,
    },
    Channel {
        id: "ch-08",
        name: "Viber",
        media: Media::Viber,
        bu: Some(0),
        phones: &[],
        queues: &[11],
        transfer_to: CH_SUPPORT_CHAT,
        opening_check: true,
        callback: false,
        overflow: None,
    },
    Channel {
        id: "ch-09",
        name: "Facebook Messenger (old page)",
        media: Media::Facebook,
        bu: Some(0),
        phones: &[],
        queues: &[12],
        transfer_to: CH_WEBCHAT,
        opening_check: true,
        callback: false,
        overflow: None,
    },
    Channel {
        id: "ch-10",
        name: "Facebook Messenger",
        media: Media::Facebook,
        bu: Some(0),
        phones: &[],
        queues: &[13],
        transfer_to: CH_WEBCHAT,
        opening_check: true,
        callback: false,
        overflow: None,
    },
    Channel {
        id: "ch-11",
        name: "Customer Service Mailbox",
        media: Media::Email,
        bu: Some(0),
        phones: &[],
        queues: &[14],
        transfer_to: CH_SUPPORT_MAIL,
        opening_check: false,
        callback: false,
        overflow: None,
    },
    Channel {
        id: "ch-12",
        name: "Business Mailbox",
        media: Media::Email,
        bu: Some(1),
        phones: &[],
        queues: &[15],
        transfer_to: CH_MAIL,
        opening_check: false,
        callback: false,
        overflow: None,
    },
    Channel {
        id: "ch-13",
        name: "Support Mailbox",
        media: Media::Email,
        bu: Some(2),
        phones: &[],
        queues: &[16],
        transfer_to: CH_MAIL,
        opening_check: false,
        callback: false,
        overflow: None,
    },
    Channel {
        id: "ch-14",
        name: "Main Switchboard",
        media: Media::Voice,
        bu: None,
        phones: &["+3612345000"],
        queues: &[],
        transfer_to: CH_RESIDENTIAL,
        opening_check: true,
        callback: false,
        overflow: None,
    },
];

pub(super) struct Queue {
    pub id: &'static str,
    pub name: &'static str,
    pub channel: usize,
    pub routing: &'static str,
}

pub(super) const Q_GENERAL: usize = 0;
pub(super) const Q_BILLING: usize = 1;
pub(super) const Q_OVERFLOW: usize = 2;
pub(super) const Q_ACCOUNT_MANAGERS: usize = 3;
pub(super) const Q_INTERNET_TV: usize = 4;
pub(super) const Q_MOBILE: usize = 5;
pub(super) const Q_LEGACY_DSL: usize = 6;
pub(super) const Q_COLLECTIONS: usize = 7;
pub(super) const Q_FACEBOOK_OLD: usize = 12;

pub(super) static QUEUES: [Queue; 17] = [
    Queue {
        id: "q-01",
        name: "Residential - General",
        channel: 0,
        routing: "Automatic",
    },
    Queue {
        id: "q-02",
        name: "Residential - Billing",
        channel: 0,
        routing: "Automatic",
    },
    Queue {
        id: "q-03",
        name: "Residential - Overflow",
        channel: 0,
        routing: "Automatic",
    },
    Queue {
        id: "q-04",
        name: "Business - Account Managers",
        channel: 1,
        routing: "Automatic",
    },
    Queue {
        id: "q-05",
        name: "Support - Internet & TV",
        channel: 2,
        routing: "Automatic",
    },
    Queue {
        id: "q-06",
        name: "Support - Mobile",
        channel: 2,
        routing: "Automatic",
    },
    Queue {
        id: "q-07",
        name: "Support - Legacy DSL",
        channel: 2,
        routing: "Automatic",
    },
    Queue {
        id: "q-08",
        name: "Collections",
        channel: 3,
        routing: "Automatic",
    },
    Queue {
        id: "q-09",
        name: "Web Chat - Residential",
        channel: 4,
        routing: "Automatic",
    },
    Queue {
        id: "q-10",
        name: "Web Chat - Business",
        channel: 5,
        routing: "Automatic",
    },
    Queue {
        id: "q-11",
        name: "Support Chat",
        channel: 6,
        routing: "Automatic",
    },
    Queue {
        id: "q-12",
        name: "Viber",
        channel: 7,
        routing: "Automatic",
    },
    Queue {
        id: "q-13",
        name: "Facebook (old page)",
        channel: 8,
        routing: "Automatic",
    },
    Queue {
        id: "q-14",
        name: "Facebook",
        channel: 9,
        routing: "Automatic",
    },
    Queue {
        id: "q-15",
        name: "Email - Customer Service",
        channel: 10,
        routing: "Manual",
    },
    Queue {
        id: "q-16",
        name: "Email - Business",
        channel: 11,
        routing: "Manual",
    },
    Queue {
        id: "q-17",
        name: "Email - Support",
        channel: 12,
        routing: "Manual",
    },
];

pub(super) struct BotStep {
    pub id: &'static str,
    pub name: &'static str,
    pub kind: &'static str,
    pub mg: Mg,
}

pub(super) const BS_WELCOME: usize = 0;
pub(super) const BS_MATCH_ANI: usize = 1;
pub(super) const BS_CLOSED: usize = 2;
pub(super) const BS_MENU: usize = 3;
pub(super) const BS_MENU_OLD: usize = 4;
pub(super) const BS_IDENTIFY: usize = 5;
pub(super) const BS_BUSINESS_WELCOME: usize = 6;
pub(super) const BS_ACCOUNT_NUMBER: usize = 7;
pub(super) const BS_SUPPORT_WELCOME: usize = 8;
pub(super) const BS_OUTAGE: usize = 9;
pub(super) const BS_SUPPORT_MENU: usize = 10;
pub(super) const BS_COLLECTIONS_NOTICE: usize = 11;
pub(super) const BS_CONTRACT_NUMBER: usize = 12;
pub(super) const BS_SWITCHBOARD_MENU: usize = 13;
pub(super) const BS_CHAT_GREETING: usize = 14;
pub(super) const BS_TOPIC: usize = 15;
pub(super) const BS_FAQ: usize = 16;
pub(super) const BS_CHAT_IDENTIFY: usize = 17;
pub(super) const BS_ORDER_BOT: usize = 18;
pub(super) const BS_TROUBLESHOOT: usize = 19;
pub(super) const BS_ROUTER_MODEL: usize = 20;
pub(super) const BS_CHAT_CLOSED: usize = 21;
pub(super) const BS_MAIL_INTENT: usize = 22;
pub(super) const BS_AUTO_ACK: usize = 23;
pub(super) const BS_SENDER_LOOKUP: usize = 24;

pub(super) static BOT_STEPS: [BotStep; 25] = [
    BotStep {
        id: "bs-01",
        name: "Welcome message",
        kind: "announcement",
        mg: Mg::Voice,
    },
    BotStep {
        id: "bs-02",
        name: "Known caller check",
        kind: "matchAni",
        mg: Mg::Voice,
    },
    BotStep {
        id: "bs-03",
        name: "Closed announcement",
        kind: "announcement",
        mg: Mg::Voice,
    },
    BotStep {
        id: "bs-04",
        name: "Main menu",
        kind: "autoAttendant",
        mg: Mg::Voice,
    },
    BotStep {
        id: "bs-05",
        name: "Main menu (2025)",
        kind: "autoAttendant",
        mg: Mg::Voice,
    },
    BotStep {
        id: "bs-06",
        name: "Identify caller",
        kind: "identifyCustomer",
        mg: Mg::Voice,
    },
    BotStep {
        id: "bs-07",
        name: "Business welcome",
        kind: "announcement",
        mg: Mg::Voice,
    },
    BotStep {
        id: "bs-08",
        name: "Account number",
        kind: "question",
        mg: Mg::Voice,
    },
    BotStep {
        id: "bs-09",
        name: "Support welcome",
        kind: "announcement",
        mg: Mg::Voice,
    },
    BotStep {
        id: "bs-10",
        name: "Outage notice",
        kind: "announcement",
        mg: Mg::Voice,
    },
    BotStep {
        id: "bs-11",
        name: "Support menu",
        kind: "autoAttendant",
        mg: Mg::Voice,
    },
    BotStep {
        id: "bs-12",
        name: "Collections notice",
        kind: "announcement",
        mg: Mg::Voice,
    },
    BotStep {
        id: "bs-13",
        name: "Contract number",
        kind: "question",
        mg: Mg::Voice,
    },
    BotStep {
        id: "bs-14",
        name: "Switchboard menu",
        kind: "autoAttendant",
        mg: Mg::Voice,
    },
    BotStep {
        id: "bs-15",
        name: "Chat greeting",
        kind: "announcement",
        mg: Mg::Chat,
    },
    BotStep {
        id: "bs-16",
        name: "Topic selection",
        kind: "menuSelection",
        mg: Mg::Chat,
    },
    BotStep {
        id: "bs-17",
        name: "FAQ assistant",
        kind: "qna",
        mg: Mg::Chat,
    },
    BotStep {
        id: "bs-18",
        name: "Chat identification",
        kind: "identifyCustomer",
        mg: Mg::Chat,
    },
    BotStep {
        id: "bs-19",
        name: "Order status bot",
        kind: "customBot",
        mg: Mg::Chat,
    },
    BotStep {
        id: "bs-20",
        name: "Troubleshooting assistant",
        kind: "qna",
        mg: Mg::Chat,
    },
    BotStep {
        id: "bs-21",
        name: "Router model",
        kind: "question",
        mg: Mg::Chat,
    },
    BotStep {
        id: "bs-22",
        name: "Chat closed message",
        kind: "announcement",
        mg: Mg::Chat,
    },
    BotStep {
        id: "bs-23",
        name: "Mail intent",
        kind: "customerIntentEvaluator",
        mg: Mg::Email,
    },
    BotStep {
        id: "bs-24",
        name: "Auto acknowledgement",
        kind: "sendEmailReply",
        mg: Mg::Email,
    },
    BotStep {
        id: "bs-25",
        name: "Sender lookup",
        kind: "identifyCustomer",
        mg: Mg::Email,
    },
];

pub(super) struct Campaign {
    pub id: &'static str,
    pub name: &'static str,
    pub kind: &'static str,
}

pub(super) const CMP_RENEWAL: usize = 0;
pub(super) const CMP_CALLBACK: usize = 1;
pub(super) const CMP_WINTER: usize = 2;

pub(super) const N_CAMPAIGNS: usize = 3;

pub(super) static CAMPAIGNS: [Campaign; N_CAMPAIGNS] = [
    Campaign {
        id: "cmp-01",
        name: "Contract Renewal 2026",
        kind: "Preview",
    },
    Campaign {
        id: "cmp-02",
        name: "Callback Requests",
        kind: "Callback",
    },
    Campaign {
        id: "cmp-03",
        name: "Winter Tariff Offer",
        kind: "Preview",
    },
];

/// Skill groups: agents handle either voice or digital contacts (chats and e-mail,
/// as most contact centers blend them) for one business unit.
pub(super) const N_GROUPS: usize = 7;

pub(super) static GROUPS: [(usize, Mg); N_GROUPS] = [
    (0, Mg::Voice),
    (0, Mg::Chat),
    (1, Mg::Voice),
    (1, Mg::Chat),
    (2, Mg::Voice),
    (2, Mg::Chat),
    (3, Mg::Voice),
];
pub(super) const G_RESIDENTIAL_VOICE: usize = 0;
pub(super) const G_RESIDENTIAL_DIGITAL: usize = 1;
pub(super) const G_SUPPORT_VOICE: usize = 4;
pub(super) const G_COLLECTIONS: usize = 6;

/// The skill group that handles a business unit's contacts of a media group.
pub(super) fn group_of(bu: usize, mg: Mg) -> Option<usize> {
    let skill = if mg == Mg::Email { Mg::Chat } else { mg };
    GROUPS.iter().position(|&(b, m)| b == bu && m == skill)
}

pub(super) fn queue_group(queue: usize) -> Option<usize> {
    let ch = &CHANNELS[QUEUES[queue].channel];
    ch.bu.and_then(|bu| group_of(bu, ch.media.group()))
}

/// Share of each media group's conversations per skill group (calls, chats, mails),
/// and agent hours per conversation: used to plan the staffing.
const GROUP_SHARE: [[f64; 3]; N_GROUPS] = [
    [0.51, 0.66, 0.57],
    [0.0, 0.66, 0.57],
    [0.17, 0.12, 0.21],
    [0.0, 0.12, 0.21],
    [0.24, 0.22, 0.23],
    [0.0, 0.22, 0.23],
    [0.09, 0.0, 0.0],
];
const HOURS_PER_CONTACT: [f64; 3] = [0.11, 0.085, 0.13];

const FIRST_NAMES: [&str; 32] = [
    "Anna",
    "Bence",
    "Csilla",
    "Dániel",
    "Eszter",
    "Ferenc",
    "Gábor",
    "Hanna",
    "István",
    "Judit",
    "Katalin",
    "László",
    "Márton",
    "Nóra",
    "Orsolya",
    "Péter",
    "Réka",
    "Sándor",
    "Tamás",
    "Viktória",
    "Zoltán",
    "Zsófia",
    "Ádám",
    "Balázs",
    "Dóra",
    "Erika",
    "Gergely",
    "Ildikó",
    "Kristóf",
    "Lilla",
    "Noémi",
    "Attila",
];
const LAST_NAMES: [&str; 30] = [
    "Nagy",
    "Kovács",
    "Tóth",
    "Szabó",
    "Horváth",
    "Varga",
    "Kiss",
    "Molnár",
    "Németh",
    "Farkas",
    "Balogh",
    "Papp",
    "Takács",
    "Juhász",
    "Lakatos",
    "Mészáros",
    "Oláh",
    "Simon",
    "Rácz",
    "Fekete",
    "Szilágyi",
    "Török",
    "Fehér",
    "Gál",
    "Kis",
    "Szűcs",
    "Kocsis",
    "Pintér",
    "Vass",
    "Bíró",
];
const MAIL_DOMAINS: [&str; 4] = ["example.com", "example.net", "example.org", "mail.example"];
pub(super) const COMPANY_DOMAIN: &str = "danubia-energy.example";

/// ASCII form of a Hungarian name for e-mail addresses.
fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'á' | 'Á' => 'a',
            'é' | 'É' => 'e',
            'í' | 'Í' => 'i',
            'ó' | 'ö' | 'ő' | 'Ó' | 'Ö' | 'Ő' => 'o',
            'ú' | 'ü' | 'ű' | 'Ú' | 'Ü' | 'Ű' => 'u',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// A customer: either a known contact record (`known`, an index into the tenant's
/// customer base) or an unidentified person, whose details derive from `key`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cust {
    pub known: Option<u32>,
    pub key: u64,
}

const CUSTOMER_SALT: u64 = 0xC057_0E12;

impl Cust {
    pub fn known(index: u32) -> Cust {
        Cust {
            known: Some(index),
            key: mix(u64::from(index), CUSTOMER_SALT),
        }
    }

    pub fn anonymous(key: u64) -> Cust {
        Cust { known: None, key }
    }

    pub fn id(&self) -> Option<String> {
        self.known.map(|k| format!("cust-{k:06}"))
    }

    fn first_of(&self) -> &'static str {
        FIRST_NAMES[(self.key % FIRST_NAMES.len() as u64) as usize]
    }

    fn last_of(&self) -> &'static str {
        LAST_NAMES[((self.key >> 8) % LAST_NAMES.len() as u64) as usize]
    }

    /// Names are only known for identified customers.
    pub fn first(&self) -> Option<&'static str> {
        self.known.map(|_| self.first_of())
    }

    pub fn last(&self) -> Option<&'static str> {
        self.known.map(|_| self.last_of())
    }

    /// Upload-style names, known whether or not the person is a customer yet.
    pub fn names(&self) -> (&'static str, &'static str) {
        (self.first_of(), self.last_of())
    }

    /// Hungarian mobile number, E.164.
    pub fn phone(&self) -> String {
        let prefix = ["20", "30", "70"][((self.key >> 16) % 3) as usize];
        format!("+36{prefix}{:07}", (self.key >> 20) % 10_000_000)
    }

    /// A second number for campaign records (a landline).
    pub fn landline(&self) -> String {
        format!("+361{:07}", (self.key >> 24) % 10_000_000)
    }

    pub fn email(&self) -> String {
        let domain = MAIL_DOMAINS[((self.key >> 40) % MAIL_DOMAINS.len() as u64) as usize];
        format!(
            "{}.{}{}@{domain}",
            ascii(self.first_of()),
            ascii(self.last_of()),
            (self.key >> 44) % 100
        )
    }
}

/// Draws the customer of a new contact: most contacts come from known customers,
/// a few of whom contact the center often.
pub(super) fn draw_customer(rng: &mut Rng, pool: u32, known_share: f64) -> Cust {
    if rng.chance(known_share) {
        let u = rng.f64();
        Cust::known(((u * u) * f64::from(pool)) as u32 + 1)
    } else {
        Cust::anonymous(rng.next_u64())
    }
}

/// An agent (and the user with the same id).
pub(super) struct Agent {
    pub id: String,
    pub first: &'static str,
    pub last: &'static str,
    pub custom_id: Option<String>,
    pub phone: String,
    pub group: usize,
    /// From this day index on, the agent works in another group (and business unit).
    pub moved: Option<(usize, usize)>,
    /// Day index of the agent's first shift when hired during the history.
    pub hired: Option<usize>,
    pub hired_at: i64,
    /// Day index from which the agent no longer works (removed from the tenant).
    pub left: Option<usize>,
}

impl Agent {
    pub fn name(&self) -> String {
        format!("{} {}", self.first, self.last)
    }

    pub fn email(&self) -> String {
        format!(
            "{}.{}@{COMPANY_DOMAIN}",
            ascii(self.first),
            ascii(self.last)
        )
    }

    /// The agent's skill group on a day, `None` when not employed that day.
    pub fn group_on(&self, day: usize) -> Option<usize> {
        if self.hired.is_some_and(|h| day < h) || self.left.is_some_and(|l| day >= l) {
            return None;
        }
        match self.moved {
            Some((d, g)) if day >= d => Some(g),
            _ => Some(self.group),
        }
    }
}

/// A user who is not an agent.
pub(super) struct Staff {
    pub id: String,
    pub name: String,
    pub email: String,
    pub kind: &'static str,
    /// Business unit a supervisor looks after.
    pub bu: Option<usize>,
}

/// Days on which lookups change (index into the calendar's days).
pub(super) struct Changes {
    /// The old Facebook page (channel and queue) is replaced by the new one.
    pub facebook: usize,
    /// The legacy DSL support queue is removed; option 3 goes to Internet & TV.
    pub legacy_dsl: usize,
    /// The 2025 main menu is replaced by the new one.
    pub menu: usize,
    /// The winter tariff campaign ends and is deleted.
    pub winter: usize,
    /// A network outage: many more support contacts, and an outage announcement.
    pub outage: usize,
}

pub(super) struct World {
    pub agents: Vec<Agent>,
    pub staff: Vec<Staff>,
    pub changes: Changes,
    /// Known customers: `cust-000001` … `cust-{pool}`.
    pub pool: u32,
}

impl World {
    pub fn new(cal: &Calendar, changes: Changes, legs: &[[u64; 3]], seed: u64) -> World {
        let n = cal.days.len();
        let at = |f: f64| changes_day(n, f);
        let mut rng = Rng::stream(seed, 0x00A6_E275);
        let sizes = group_sizes(cal, legs);
        let mut agents: Vec<Agent> = Vec::new();
        let mut names = BTreeSet::new();
        let mut count = 0usize;
        let mut new_agent = |rng: &mut Rng, group: usize, hired: Option<usize>| -> Agent {
            let (first, last) = loop {
                let f = FIRST_NAMES[rng.index(FIRST_NAMES.len())];
                let l = LAST_NAMES[rng.index(LAST_NAMES.len())];
                if names.insert((f, l)) || names.len() >= FIRST_NAMES.len() * LAST_NAMES.len() {
                    break (f, l);
                }
            };
            count += 1;
            let number = count;
            let hired_at = match hired {
                Some(d) => local_to_utc(cal.days[d].date, 7 * 3600 + 30 * 60),
                None => {
                    cal.start - rng.range(30, 900) * DAY
                        + rng.range(8 * HOUR, 16 * HOUR) / MINUTE * MINUTE
                }
            };
            Agent {
                id: format!("agent-{number:04}"),
                first,
                last,
                custom_id: (!rng.chance(0.2))
                    .then(|| format!("E{:05}", 10_000 + rng.below(90_000))),
                phone: format!("+3612346{number:03}"),
                group,
                moved: None,
                hired,
                hired_at,
                left: None,
            }
        };
        for (g, &size) in sizes.iter().enumerate() {
            for _ in 0..size {
                let a = new_agent(&mut rng, g, None);
                agents.push(a);
            }
        }
        // Staff turnover: two agents leave, two join, one moves to Collections.
        if n >= 6 {
            let voice_res: Vec<usize> = (0..agents.len())
                .filter(|&i| agents[i].group == G_RESIDENTIAL_VOICE)
                .collect();
            let voice_support: Vec<usize> = (0..agents.len())
                .filter(|&i| agents[i].group == G_SUPPORT_VOICE)
                .collect();
            if voice_res.len() >= 4 {
                agents[voice_res[voice_res.len() - 1]].left = Some(at(0.45));
                let mover = voice_res[voice_res.len() - 2];
                agents[mover].moved = Some((at(0.58), G_COLLECTIONS));
            }
            if voice_support.len() >= 3 {
                agents[voice_support[voice_support.len() - 1]].left = Some(at(0.8));
            }
            let a = new_agent(&mut rng, G_RESIDENTIAL_VOICE, Some(at(0.3)));
            agents.push(a);
            let a = new_agent(&mut rng, G_RESIDENTIAL_DIGITAL, Some(at(0.7)));
            agents.push(a);
        }
        let mut staff = Vec::new();
        for b in 0..BUSINESS_UNITS.len() {
            let f = FIRST_NAMES[(b * 7 + 3) % FIRST_NAMES.len()];
            let l = LAST_NAMES[(b * 5 + 17) % LAST_NAMES.len()];
            staff.push(Staff {
                id: format!("user-{:04}", b + 1),
                name: format!("{f} {l}"),
                email: format!("{}.{}@{COMPANY_DOMAIN}", ascii(f), ascii(l)),
                kind: "Supervisor",
                bu: Some(b),
            });
        }
        staff.push(Staff {
            id: "user-0005".into(),
            name: "Portal Administrator".into(),
            email: format!("admin@{COMPANY_DOMAIN}"),
            kind: "User",
            bu: None,
        });
        staff.push(Staff {
            id: "user-0006".into(),
            name: "Reporting Analyst".into(),
            email: format!("bi@{COMPANY_DOMAIN}"),
            kind: "User",
            bu: None,
        });
        let total: u64 = legs.iter().flatten().sum();
        let pool = u32::try_from((total / 4).max(50)).unwrap_or(u32::MAX);
        World {
            agents,
            staff,
            changes,
            pool,
        }
    }

    /// The supervisor who evaluates work of a business unit.
    pub fn supervisor(&self, bu: Option<usize>) -> &Staff {
        let bu = Some(bu.unwrap_or(0));
        self.staff
            .iter()
            .find(|s| s.bu == bu)
            .unwrap_or(&self.staff[0])
    }
}

/// Agent hours the contacts of skill group `g` need on a day with `legs` conversations.
pub(super) fn work_hours(legs: &[u64; 3], g: usize) -> f64 {
    let media: &[usize] = if GROUPS[g].1 == Mg::Voice {
        &[0]
    } else {
        &[1, 2]
    };
    media
        .iter()
        .map(|&m| legs[m] as f64 * GROUP_SHARE[g][m] * HOURS_PER_CONTACT[m])
        .sum()
}

/// Agents of a group to put on shift for `hours` of work: enough for the peak hour
/// (about 11 % of a day's contacts, when only the early shift is in) at a sane
/// occupancy, and two on weekdays so that both the early and the late shift are
/// covered.
pub(super) fn staff_needed(hours: f64, saturday: bool) -> usize {
    let n = if saturday {
        hours / (5.0 * 0.6)
    } else {
        hours * 0.26
    };
    (n.ceil() as usize).max(if saturday { 1 } else { 2 })
}

/// Agents per skill group: a third more than the busiest day needs (so everyone
/// gets days off), at least two, and at least 40 in total (the extra ones go to the
/// groups with the most work).
fn group_sizes(cal: &Calendar, legs: &[[u64; 3]]) -> Vec<usize> {
    let mut demand = [0.0f64; N_GROUPS];
    let mut sizes = vec![2usize; N_GROUPS];
    for (d, day) in cal.days.iter().enumerate() {
        if day.open.is_none() {
            continue;
        }
        for g in 0..N_GROUPS {
            let hours = work_hours(&legs[d], g);
            demand[g] += hours;
            let needed = staff_needed(hours, day.weekday == 5);
            sizes[g] = sizes[g].max((needed as f64 * 1.35).ceil() as usize);
        }
    }
    while sizes.iter().sum::<usize>() < 40 {
        let mut best = 0;
        for g in 1..sizes.len() {
            if demand[g] / sizes[g] as f64 > demand[best] / sizes[best] as f64 {
                best = g;
            }
        }
        sizes[best] += 1;
    }
    sizes
}

/// The day index at fraction `f` of the history (never the first or last day).
fn changes_day(n: usize, f: f64) -> usize {
    ((n as f64 * f).round() as usize).clamp(1, n.saturating_sub(2).max(1))
}

impl Changes {
    pub fn new(cal: &Calendar) -> Changes {
        let n = cal.days.len();
        Changes {
            facebook: changes_day(n, 0.55),
            legacy_dsl: changes_day(n, 0.35),
            menu: changes_day(n, 0.2),
            winter: changes_day(n, 0.4),
            outage: changes_day(n, 0.62),
        }
    }
}
