"""The demo firm's vocabulary: names, companies, titles, job categories, pages, campaigns,
with the shares they are drawn in and the latent weights the story gives them."""

from __future__ import annotations

from collections.abc import Sequence

Weighted = Sequence[tuple[str, float]]

# fmt: off
FIRST_NAMES = (
    "Aaliyah", "Aaron", "Abigail", "Adrian", "Aisha", "Alejandro", "Amara", "Andre", "Angela",
    "Anika", "Ben", "Bianca", "Brandon", "Camila", "Carlos", "Chloe", "Chris", "Daniel",
    "Daria", "Darnell", "David", "Deepa", "Diego", "Elena", "Eli", "Emily", "Ethan", "Fatima",
    "Felix", "Gabriel", "Grace", "Hana", "Hector", "Imani", "Isaac", "Ivy", "Jada", "Jamal",
    "Jasmine", "Javier", "Jenna", "Jordan", "Kai", "Keisha", "Kevin", "Laila", "Leo", "Lucia",
    "Malik", "Maria", "Marcus", "Maya", "Mei", "Miguel", "Nadia", "Noah", "Olivia", "Omar",
    "Paula", "Priya", "Rafael", "Rosa", "Ryan", "Samir", "Sara", "Sofia", "Tanya", "Theo",
    "Uma", "Victor", "Wen", "Xavier", "Yara", "Yusuf", "Zoe",
)
LAST_NAMES = (
    "Adams", "Ahmed", "Alvarez", "Anderson", "Baker", "Bell", "Brooks", "Brown", "Campbell",
    "Carter", "Castillo", "Chen", "Clark", "Cruz", "Davis", "Diaz", "Edwards", "Evans",
    "Flores", "Foster", "Garcia", "Gomez", "Gonzalez", "Green", "Gupta", "Hall", "Harris",
    "Hernandez", "Hill", "Hughes", "Jackson", "James", "Johnson", "Jones", "Kelly", "Khan",
    "Kim", "King", "Lee", "Lewis", "Lopez", "Martin", "Martinez", "Miller", "Mitchell",
    "Moore", "Morales", "Morgan", "Murphy", "Nguyen", "Okafor", "Ortiz", "Parker", "Patel",
    "Perez", "Phillips", "Ramirez", "Reed", "Reyes", "Rivera", "Roberts", "Robinson",
    "Rodriguez", "Rogers", "Ross", "Sanchez", "Scott", "Shah", "Singh", "Smith", "Stewart",
    "Taylor", "Thomas", "Thompson", "Torres", "Turner", "Walker", "Ward", "Washington",
    "White", "Williams", "Wilson", "Wright", "Young",
)

# -- employers

COMPANY_WORDS = (
    "Apex", "Arbor", "Aspen", "Beacon", "Bluebonnet", "Brazos", "Cactus", "Canyon", "Cedar",
    "Cimarron", "Copper", "Crescent", "Cypress", "Delta", "Desert", "Eagle", "Evergreen",
    "Frontier", "Gateway", "Granite", "Gulf", "Harbor", "Heritage", "Highland", "Horizon",
    "Ironwood", "Juniper", "Keystone", "Lakeside", "Liberty", "Magnolia", "Mesa", "Meridian",
    "Mustang", "Northstar", "Oakridge", "Pecan", "Pelican", "Pinnacle", "Pioneer", "Prairie",
    "Redline", "Ridgeway", "Riverbend", "Saguaro", "Sierra", "Summit", "Sunbelt", "Trident",
    "Trinity",
)
# Industry: (share of accounts, the words a company of it is named with).
INDUSTRIES: dict[str, tuple[float, tuple[str, ...]]] = {
    "Healthcare": (0.14, ("Health", "Medical Group", "Care Partners", "Clinics")),
    "Hospitals": (0.05, ("Regional Hospital", "Medical Center")),
    "Information Technology": (0.10, ("Systems", "Technologies", "Data")),
    "Software": (0.07, ("Software", "Labs", "Cloud")),
    "Manufacturing": (0.13, ("Manufacturing", "Industries", "Fabrication", "Components")),
    "Logistics": (0.08, ("Logistics", "Freight", "Transport")),
    "Warehousing": (0.04, ("Distribution", "Fulfillment")),
    "Financial Services": (0.07, ("Financial", "Capital", "Bancorp")),
    "Accounting": (0.03, ("Accounting", "CPAs")),
    "Retail": (0.08, ("Markets", "Outfitters", "Retail")),
    "Education": (0.06, ("Academy", "Learning", "College")),
    "Hospitality": (0.06, ("Hotels", "Hospitality", "Resorts")),
    "Construction": (0.05, ("Builders", "Construction", "Contractors")),
    "Government": (0.04, ("County Services", "Municipal Authority")),
}
# fmt: on
#: The industries the firm places into (as the bundled lists/target_industries.txt).
TARGET_INDUSTRIES = frozenset(
    (
        "Healthcare",
        "Hospitals",
        "Information Technology",
        "Software",
        "Manufacturing",
        "Logistics",
        "Warehousing",
        "Financial Services",
        "Accounting",
    )
)
STATES: Weighted = (
    ("TX", 0.30),
    ("OK", 0.05),
    ("LA", 0.05),
    ("AZ", 0.07),
    ("CO", 0.07),
    ("GA", 0.06),
    ("FL", 0.10),
    ("CA", 0.10),
    ("NY", 0.08),
    ("IL", 0.07),
    ("NC", 0.05),
)
#: The states with a branch (as the bundled lists/served_states.txt).
SERVED_STATES = frozenset(("TX", "OK", "LA", "AZ", "CO", "GA", "FL"))
CITIES = {
    "TX": ("Houston", "Dallas", "San Antonio", "Austin", "Fort Worth", "El Paso"),
    "OK": ("Oklahoma City", "Tulsa"),
    "LA": ("New Orleans", "Baton Rouge", "Shreveport"),
    "AZ": ("Phoenix", "Tucson", "Mesa"),
    "CO": ("Denver", "Colorado Springs", "Aurora"),
    "GA": ("Atlanta", "Savannah", "Augusta"),
    "FL": ("Tampa", "Miami", "Orlando", "Jacksonville"),
    "CA": ("Sacramento", "Los Angeles", "San Diego"),
    "NY": ("Buffalo", "New York", "Rochester"),
    "IL": ("Chicago", "Springfield"),
    "NC": ("Charlotte", "Raleigh"),
}
#: Rival agencies (as the bundled lists/competitor_domains.txt): they read our pricing.
COMPETITORS = (
    ("Rival Staffing", "rivalstaffing.example"),
    ("TalentBridge Agency", "talentbridge-agency.example"),
    ("QuickHire Partners", "quickhire-partners.example"),
)
FREE_MAIL: Weighted = (
    ("gmail.com", 0.55),
    ("yahoo.com", 0.15),
    ("outlook.com", 0.12),
    ("hotmail.com", 0.08),
    ("icloud.com", 0.10),
)

# fmt: off
# Seniority: (level, share of contacts, authority over buying staffing).
SENIORITY = (
    ("chief", 0.03, 1.0), ("vp", 0.08, 0.95), ("head", 0.05, 0.85), ("director", 0.17, 0.75),
    ("senior manager", 0.14, 0.55), ("manager", 0.25, 0.45), ("staff", 0.28, 0.2),
)
# Function: share of contacts, relevance to buying staffing, chief's title, staff titles.
FUNCTIONS: dict[str, tuple[float, float, str, tuple[str, ...]]] = {
    "Talent Acquisition": (0.22, 1.0, "Chief People Officer",
                           ("Talent Acquisition Specialist", "Sourcer")),
    "Human Resources": (0.18, 1.0, "Chief Human Resources Officer",
                        ("HR Generalist", "HR Coordinator")),
    "People": (0.06, 1.0, "Chief People Officer", ("People Partner",)),
    "Recruiting": (0.06, 1.0, "Chief Talent Officer", ("Recruiter", "Recruiting Coordinator")),
    "Engineering": (0.10, 0.6, "CTO", ("Software Engineer", "Engineering Team Lead")),
    "Operations": (0.12, 0.6, "COO", ("Operations Analyst", "Shift Supervisor")),
    "Finance": (0.07, 0.35, "CFO", ("Financial Analyst", "Controller")),
    "IT": (0.05, 0.6, "CIO", ("IT Specialist", "Systems Administrator")),
    "Nursing": (0.04, 0.6, "Chief Nursing Officer", ("Charge Nurse", "Nurse Educator")),
    "Warehouse": (0.03, 0.6, "COO", ("Warehouse Lead", "Inventory Supervisor")),
    "Marketing": (0.04, 0.15, "CMO", ("Marketing Specialist",)),
    "Sales": (0.03, 0.15, "Chief Revenue Officer", ("Account Executive",)),
}

# -- candidates

# Category: (share of candidates, placeability: how readily the firm places it).
CATEGORIES = {
    "Nursing": (0.10, 1.0), "Software Engineering": (0.07, 1.0),
    "Data Engineering": (0.03, 1.0), "Warehouse Operations": (0.10, 1.0),
    "CNC Machining": (0.03, 1.0), "Accounting": (0.05, 0.6), "Administrative": (0.08, 0.6),
    "Customer Service": (0.10, 0.6), "Finance": (0.03, 0.6), "Healthcare Support": (0.06, 0.6),
    "Light Industrial": (0.08, 0.6), "Logistics": (0.05, 0.6), "Sales": (0.05, 0.6),
    "IT Support": (0.04, 0.6), "Graphic Design": (0.04, 0.15), "Legal": (0.02, 0.15),
    "Teaching": (0.04, 0.15), "Hospitality": (0.03, 0.15),
}
# Skills per category: (skills, in demand with the firm's clients).
SKILLS: dict[str, tuple[tuple[str, bool], ...]] = {
    "Nursing": (("RN, ICU, BLS", True), ("LPN, long-term care", True),
                ("CNA, patient care", True), ("Medical assistant, EHR", False)),
    "Software Engineering": (("Python, AWS, SQL", True), ("Java, Spring", True),
                             ("TypeScript, React", False), ("Go, Kubernetes", False)),
    "Data Engineering": (("SQL, Python, Airflow", True), ("Spark, Scala", False)),
    "Warehouse Operations": (("Forklift, inventory", True), ("Shipping, receiving", False)),
    "CNC Machining": (("CNC, blueprint reading", True), ("Lathe, mill", False)),
    "Accounting": (("Accounts payable, SAP", True), ("Bookkeeping, QuickBooks", False)),
    "Administrative": (("Scheduling, MS Office", False), ("Data entry", False),
                       ("Front desk, SAP", True)),
    "Customer Service": (("Call center, Salesforce", True), ("Retail, POS", False)),
    "Finance": (("Financial analysis, SAP", True), ("Excel, forecasting", False)),
    "Healthcare Support": (("Phlebotomy", False), ("Medical billing", False)),
    "Light Industrial": (("Assembly, packing", False), ("Forklift, assembly", True)),
    "Logistics": (("Dispatch, routing", False), ("Forklift, CDL", True)),
    "Sales": (("B2B sales, Salesforce", True), ("Retail sales", False)),
    "IT Support": (("Help desk, Windows", False), ("Networking, SQL", True)),
    "Graphic Design": (("Figma, Illustrator", False),),
    "Legal": (("Paralegal, e-discovery", False),),
    "Teaching": (("Lesson planning", False),),
    "Hospitality": (("Front of house", False), ("Line cook", False)),
}

# -- marketing

ASSETS = (
    ("2026 Salary Guide: Healthcare", "salary_guide"),
    ("2026 Salary Guide: Technology", "salary_guide"),
    ("Hiring Outlook Report", "hiring_report"),
    ("Workforce Planning Template", "workforce_plan"),
    ("Case study: 40 nurses in 30 days", "case_study"),
    ("Onboarding Checklist", "checklist"),
    ("The Contingent Workforce eBook", "ebook"),
)
WEBINARS = (
    "Hiring outlook for the second half", "Contract or direct hire?",
    "Healthcare staffing trends", "Cutting time-to-fill", "Pay transparency laws by state",
    "Building a contingent workforce",
)
GENERAL_PAGES = (
    "/", "/about", "/locations", "/blog/hiring-trends", "/blog/retaining-contractors",
    "/insights/labor-market-report", "/case-studies",
)
SERVICE_PAGES = (
    "/services/contract-staffing", "/services/direct-hire", "/services/rpo",
    "/services/managed-services", "/services/healthcare-staffing",
)
PRICING_PAGES = ("/pricing", "/pricing/contract-staffing", "/pricing/rpo")
ADVICE_PAGES = (
    "/careers/advice/resume-tips", "/careers/advice/interview-prep",
    "/careers/why-contract-work",
)
# How visitors arrive: (channel, source, campaign, share).
Traffic = tuple[tuple[str, str | None, str | None, float], ...]
EMPLOYER_TRAFFIC: Traffic = (
    ("organic", "google", None, 0.36),
    ("paid_search", "google", "contract-staffing-2026", 0.12),
    ("paid_search", "bing", "brand-2026", 0.03),
    ("social", "linkedin", "salary-guide-2026", 0.12),
    ("referral", "partner-directory", None, 0.05),
    ("direct", None, None, 0.32),
)
CANDIDATE_TRAFFIC: Traffic = (
    ("organic", "google", None, 0.30),
    ("job_board", "indeed", "sponsored-jobs-2026", 0.22),
    ("job_board", "ziprecruiter", "sponsored-jobs-2026", 0.08),
    ("social", "facebook", "hiring-now", 0.10),
    ("referral", "friend", None, 0.05),
    ("direct", None, None, 0.25),
)
# fmt: on
