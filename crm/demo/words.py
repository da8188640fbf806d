"""Word lists for synthetic names, companies and activity text (no external data, so the demo is reproducible)."""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "Aaron Abigail Adrian Aisha Alan Alice Amara Amir Ana Andre Andrea Angela Anil Anna Arjun Ava Beatriz Ben "
    "Bianca Blake Brian Brooke Caleb Camila Carla Carlos Carmen Chen Chloe Chris Claire Colin Dana Daniel Daria "
    "David Deepa Diego Dmitri Elena Eli Elif Emeka Emily Emma Eric Erin Ethan Fatima Felix Fiona Gabriel Grace "
    "Hana Hannah Hassan Helen Hugo Ian Ingrid Isaac Isabel Ivan Jack Jade James Jana Jason Javier Jenna Jin Joel "
    "Jonas Jordan Jose Julia Karim Kate Kenji Kevin Kim Lara Laura Leah Leo Liam Lina Lucas Lucia Luis Maya Mei "
    "Marco Maria Mark Marta Mateo Max Megan Mia Michael Miguel Mila Naomi Nadia Nathan Neha Nia Nikhil Nina Noah "
    "Olga Oliver Omar Owen Paula Pedro Priya Rachel Rafael Ravi Rebecca Rosa Ryan Sam Sara Sean Sofia Sophie "
    "Stefan Tara Tariq Theo Tom Uma Valentina Victor Vikram Wei Will Yara Yusuf Zara Zoe"
)

LAST_NAMES = _words(
    "Abbott Adeyemi Alvarez Andersen Bailey Banerjee Barnes Becker Bennett Berg Bianchi Brooks Bryant Campbell "
    "Carter Castillo Chang Chen Clarke Coleman Cruz Dalton Das Davies Diaz Dubois Duncan Edwards Ellis Evans "
    "Fischer Fleming Foster Fraser Garcia Gomez Grant Gupta Hall Hansen Harper Hayes Henderson Hoffmann Hughes "
    "Ito Jansen Jensen Johansson Kaur Keller Kennedy Khan Kim Klein Kowalski Kumar Lambert Larsen Lee Lopez "
    "Mahler Marsh Martin Meyer Miller Mitchell Moreau Morgan Murphy Nakamura Navarro Nguyen Nielsen Novak Obi "
    "Okafor Olsen Ortiz Park Patel Pereira Petrov Porter Quinn Ramos Reed Reyes Richter Rivera Rossi Russo Sato "
    "Schmidt Shah Silva Singh Sorensen Stewart Suzuki Tan Taylor Thompson Torres Turner Vargas Vasquez Wagner "
    "Walsh Wang Weber Wright Yamamoto Young Zhang Zimmermann"
)

COMPANY_PREFIXES = _words(
    "Acorn Alder Alpine Amber Apex Arbor Argent Aspen Atlas Aurora Beacon Birch Blue Bolt Boulder Bright Brook "
    "Canyon Cascade Cedar Cinder Clear Cobalt Comet Copper Coral Crest Crystal Cypress Delta Drift Eagle Echo "
    "Ember Evergreen Falcon Fern Fir Flint Forge Fox Frontier Garnet Glacier Granite Harbor Hawk Hazel Helix "
    "Horizon Indigo Iron Ivy Jade Juniper Keystone Kite Lake Lantern Laurel Linden Lumen Maple Meadow Mesa "
    "Meridian Mint Monarch Nimbus North Nova Oak Onyx Orbit Osprey Pacific Peak Pine Pioneer Polar Prairie Quartz "
    "Quill Radiant Raven Redwood Ridge River Rock Sable Sage Salt Silver Sky Slate Solar Spark Spruce Stone "
    "Summit Swift Terra Thistle Tide Timber Topaz Trail True Vale Vector Willow Wind Zephyr"
)

COMPANY_SUFFIXES = _words(
    "Analytics Bank Bio Brands Capital Clinics Cloud Commerce Dynamics Energy Foods Freight Group Health Holdings "
    "Industries Insurance Labs Learning Logistics Manufacturing Media Medical Networks Partners Pharma Retail "
    "Robotics Security Software Systems Technologies Telecom Therapeutics Travel Works"
)

INDUSTRY_FOR_SUFFIX = {
    "Analytics": "Software",
    "Bank": "Financial Services",
    "Bio": "Life Sciences",
    "Brands": "Consumer Goods",
    "Capital": "Financial Services",
    "Clinics": "Healthcare",
    "Cloud": "Software",
    "Commerce": "Retail",
    "Dynamics": "Manufacturing",
    "Energy": "Energy",
    "Foods": "Consumer Goods",
    "Freight": "Logistics",
    "Health": "Healthcare",
    "Insurance": "Insurance",
    "Labs": "Life Sciences",
    "Learning": "Education",
    "Logistics": "Logistics",
    "Manufacturing": "Manufacturing",
    "Media": "Media",
    "Medical": "Healthcare",
    "Networks": "Telecommunications",
    "Pharma": "Life Sciences",
    "Retail": "Retail",
    "Robotics": "Manufacturing",
    "Security": "Software",
    "Software": "Software",
    "Systems": "Software",
    "Technologies": "Software",
    "Telecom": "Telecommunications",
    "Therapeutics": "Life Sciences",
    "Travel": "Travel & Hospitality",
}
GENERIC_INDUSTRIES = ("Professional Services", "Software", "Manufacturing", "Retail", "Financial Services")

# (city, region)
LOCATIONS = (
    ("Boston, MA", "NA East"),
    ("New York, NY", "NA East"),
    ("Atlanta, GA", "NA East"),
    ("Toronto, ON", "NA East"),
    ("Chicago, IL", "NA Central"),
    ("Austin, TX", "NA Central"),
    ("Denver, CO", "NA Central"),
    ("San Francisco, CA", "NA West"),
    ("Seattle, WA", "NA West"),
    ("Los Angeles, CA", "NA West"),
    ("London, UK", "EMEA"),
    ("Berlin, DE", "EMEA"),
    ("Amsterdam, NL", "EMEA"),
    ("Paris, FR", "EMEA"),
    ("Stockholm, SE", "EMEA"),
    ("Singapore, SG", "APAC"),
    ("Sydney, AU", "APAC"),
)

CONTACT_TITLES = {
    "exec": ("CFO", "COO", "CTO", "VP Operations", "VP Finance", "Chief Revenue Officer", "CIO"),
    "manager": (
        "Director of IT",
        "Head of Revenue Operations",
        "Director of Finance",
        "Operations Manager",
        "Head of Data",
        "Procurement Manager",
        "Sales Operations Manager",
        "IT Manager",
    ),
    "user": ("Business Analyst", "Data Analyst", "Operations Analyst", "Solutions Engineer", "Finance Analyst"),
}

LOST_REASONS_EARLY = ("Not a fit", "No budget", "No decision", "Timing")
LOST_REASONS_LATE = ("Price", "Lost to competitor", "No decision", "Timing", "Missing feature", "No budget")
LOST_REASON_GHOSTED = ("No decision", "Went dark", "Timing", "No budget", "Lost to competitor", "Price")
LOST_REASON_CLEANUP = "No decision"
COMPETITORS = ("Clari", "Gong", "Salesforce Einstein", "a homegrown spreadsheet", "BoostUp", "InsightSquared")

# Activity text by kind and direction; {c} contact first name, {co} company, {p} product, {rep} rep first name.
EMAIL_OUT = (
    ("Following up on our call", "Hi {c}, thanks for the time today. As promised, a short recap and next steps."),
    ("{p} overview for {co}", "Hi {c}, attaching the one-pager on {p} and two customer stories from your industry."),
    ("Quick question", "Hi {c}, who else on your side should join the next conversation?"),
    ("Checking in", "Hi {c}, just checking in on where things stand. Happy to help with anything you need."),
    ("Proposal for {co}", "Hi {c}, please find our proposal for {p} attached. Let me know your thoughts."),
    ("Security questionnaire", "Hi {c}, our completed security questionnaire and SOC 2 report are attached."),
    ("Next steps", "Hi {c}, suggesting we meet next week to go through pricing and the rollout plan."),
    ("Case study you asked for", "Hi {c}, here is the case study we discussed on the call."),
    ("Any update?", "Hi {c}, I wanted to see whether you had a chance to review what I sent."),
    ("Agenda for Thursday", "Hi {c}, proposed agenda: goals, current process, demo, next steps."),
)
EMAIL_IN = (
    ("Re: Following up on our call", "Thanks {rep}, this is helpful. Looping in a colleague."),
    ("Re: Proposal for {co}", "Hi {rep}, we reviewed it internally; a few questions on pricing tiers."),
    ("Re: Next steps", "Works for us. Tuesday or Wednesday afternoon is best."),
    ("Question about integrations", "Hi {rep}, does {p} integrate with our data warehouse out of the box?"),
    ("Re: Checking in", "Hi {rep}, still on our radar, we are discussing it with the team this week."),
    ("Budget approval", "Hi {rep}, budget discussion is scheduled for next week, will update you after."),
    ("Re: Security questionnaire", "Thanks, our security team will review it."),
    ("Re: Agenda for Thursday", "Looks good. I added two items on reporting."),
    ("Intro to our IT lead", "Hi {rep}, introducing our IT lead who will look at the technical side."),
)
CALL_OUT = (
    ("Intro call", "Discussed current forecasting process and pain points."),
    ("Follow-up call", "Walked through open questions; they want to see reporting."),
    ("Left voicemail", "No answer, left a voicemail."),
    ("Pricing call", "Talked through pricing options and contract length."),
    ("Check-in call", "Short check-in on timeline and stakeholders."),
)
CALL_IN = (
    ("Inbound call from {c}", "{c} called with questions about onboarding and timeline."),
    ("{c} returned call", "Good conversation, they are comparing two vendors."),
)
MEETING_BY_STAGE = (
    ("Intro meeting with {co}", "First meeting: goals, team size, current tools."),
    ("Qualification meeting", "Confirmed budget range, authority and timeline."),
    ("Discovery workshop with {co}", "Mapped their pipeline review process and reporting needs."),
    ("{p} demo for {co}", "Live demo for the team, strong interest in forecasting views."),
    ("Proposal review", "Walked through the proposal and implementation plan."),
    ("Negotiation call with procurement", "Discussed discount, payment terms and contract length."),
)
NOTES = (
    ("Internal note", "Champion is {c}; economic buyer not yet engaged."),
    ("Meeting notes", "They liked the forecast view; concerns about data migration."),
    ("Deal strategy", "Need a second contact in finance before the proposal."),
    ("Competitive note", "They are also talking to {comp}."),
    ("Call notes", "Timeline depends on next quarter's budget approval."),
)
TASKS = (
    ("Send follow-up email", "Recap and next steps for {c}."),
    ("Prepare proposal", "Pricing for {p}, 12 and 24 month options."),
    ("Book demo", "Find a slot with {c} and their team."),
    ("Update close date", "Confirm timeline with {c}."),
    ("Reference call", "Arrange a reference customer for {co}."),
)
