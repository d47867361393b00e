"""The Kognitive OrbitPlans API vocabulary: every path, parameter and field name in one place.

Source: the OrbitPlans API page (seed 001, "Starlink API") and nothing else; no client code or
OpenAPI file is public. Names marked ASSUMED are not in that page's samples: the exporter reads
them when they are present and does without them otherwise. The simulator imports this module,
so it always serves the shape the exporter expects, and changing a name here changes both.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_API_URL = "https://api.kognitive.net/ext/v1/starlink"

# The page names the header two ways: prose says "use this key in the X-Auth-Key header", the
# example block shows `auth-key: <key>`. X-Auth-Key is the default (see docs/providers/kognitive.md).
DEFAULT_AUTH_HEADER = "X-Auth-Key"

# --- endpoints (relative to api_url)
GET_PRODUCTS = "getAvailableProducts"
GET_BILLING_USAGE = "getBillingUsage"
GET_SERVICE_LINES = "getServiceLineDetails"
GET_TERMINAL_STATUS = "getTerminalStatus"
GET_ADDRESS = "getAddress"
POST_PAUSE = "pause"
POST_RESUME = "resume"
POST_NEW_SERVICE_LINE = "newServiceLine"
POST_TRACKING = "service_line_tracking"

# --- envelope: {"success": bool, "message": str, "data": ...}
SUCCESS, MESSAGE, DATA = "success", "message", "data"
# getBillingUsage nests its list: {"data": {"results": [...]}}
RESULTS = "results"


@dataclass(frozen=True, slots=True)
class PageStyle:
    """How one endpoint pages: query parameter names; pages count from 1 (the documented default)."""

    page: str
    limit: str


PAGE_LIMIT = PageStyle("page", "limit")  # getServiceLineDetails, getBillingUsage, getAddress
PAGE_NUMBER = PageStyle("page_number", "page_limit")  # getTerminalStatus
FIRST_PAGE = 1
# Paging fields some responses carry (top level, or inside `data` when it is an object: ASSUMED).
# `total` arrives as a string ("4") in getTerminalStatus and as a number in getAddress.
META_TOTAL, META_TOTAL_PAGES, META_LIMIT = "total", "totalPages", "limit"

# --- query filters
TERMINAL_ACCOUNT_FILTER = "accountFilter"  # getTerminalStatus
ADDRESS_ACCOUNT_FILTER = "accountNumber"  # getAddress (ASSUMED optional: its data is a list of accounts)

# --- getServiceLineDetails: data = [service line]
SL_NUMBER = "service_line_number"
SL_NICKNAME = "nickname"
SL_ACCOUNT = "account_number"
SL_ACCOUNT_NAME = "account_name"
SL_STATUS = "subscription_status"
SL_TERMINALS = "userterminaldetails"
SL_TERMINAL_KIT = "kitSerialNumber"
SL_TERMINAL_ID = "userTerminalId"
# ASSUMED (the sample has neither; Starlink's own service line has both, and newServiceLine takes
# both): the plan and the service address of the line, in either spelling.
SL_PRODUCT = ("product_reference_id", "productReferenceId")
SL_ADDRESS = ("address_reference_id", "addressReferenceId")

# subscription_status values. The sample shows "resumed"; "paused" follows from the pause/resume
# calls. The others are ASSUMED spellings; config `subscription_statuses` adds more.
ACTIVE_STATUSES = frozenset({"resumed", "active"})
INACTIVE_STATUSES = frozenset({"paused", "inactive", "suspended", "deactivated", "cancelled", "canceled", "terminated"})

# --- getTerminalStatus: data = [{account, userTerminals: [terminal]}]
TS_ACCOUNT = "account_number"
TS_ACCOUNT_NAME = "account_name"
TS_TERMINALS = "userTerminals"
TS_KIT = "kit_serial_number"
TS_ID = "user_terminal_id"
TS_SERVICE_LINE = "service_line_number"
TS_STATUS = "terminal_status"  # a boolean whose meaning the page does not explain
TS_ONLINE = "is_terminal_online"
NOT_CONFIGURED = "<NOT_CONFIGURED>"  # service_line_number of a terminal without a service line

# --- getBillingUsage: data = {results: [line usage]}
BU_ACCOUNT = "accountNumber"
BU_SERVICE_LINE = "serviceLineNumber"
BU_START, BU_END = "startDate", "endDate"  # the item's: the current cycle's; a cycle's own (ASSUMED)
# ASSUMED: the last one is the current cycle, those before it the closed cycles the API still
# keeps, oldest first (as in Starlink's API; the sample shows one cycle)
BU_CYCLES = "billingCycles"
BU_DAILY = "dailyDataUsage"
BU_DATE = "date"
BU_UPDATED = "lastUpdated"  # ASSUMED optional (Starlink's data usage has it)
# class -> (cycle total field, daily field); values are decimal GB as strings ("0.00").
# opt_in_priority is ASSUMED to be a part of priority, as in Starlink's data usage.
USAGE_CLASSES: dict[str, tuple[str, str]] = {
    "priority": ("totalPriorityGB", "priorityGB"),
    "standard": ("totalStandardGB", "standardGB"),
    "opt_in_priority": ("totalOptInPriorityGB", "optInPriorityGB"),
    "non_billable": ("totalNonBillableGB", "nonBillableGB"),
}

# --- getAvailableProducts: data = [{account, products: [product {data_blocks: [block]}]}]
PR_ACCOUNT = "account_number"
PR_ACCOUNT_NAME = "account_name"
PR_REGION = "region_code"
PR_POOLED = "is_pooled"
PR_PRODUCTS = "products"
PR_ID = "product_reference_id"
PR_NAME = "name"
PR_ALIAS = "alias"
PR_PRICE = "price"
PR_CURRENCY = "iso_currency_code"
PR_LIMIT_GB = "usage_limit_gb"
PR_ACTIVE = "active"
PR_BLOCKS = "data_blocks"
DB_ID = "product_id"
DB_PARENT = "product_reference_id"
DB_AMOUNT = "data_amount"
DB_UNIT = "data_unit"
DATA_UNITS = {"MB": 1e6, "GB": 1e9, "TB": 1e12}  # decimal, as Starlink counts data (ASSUMED)

# --- getAddress: data = [{accountNumber, accountName, addresses: [address]}]
AD_ACCOUNT = "accountNumber"
AD_ACCOUNT_NAME = "accountName"
AD_ADDRESSES = "addresses"
AD_ID = "address_reference_id"
AD_FORMATTED = "formatted_address"
AD_LATITUDE = "latitude"
AD_LONGITUDE = "longitude"

# --- write calls (bodies are JSON; used by the simulator now and by the management actions later)
W_ACCOUNT = "accountNumber"
W_SERVICE_LINE = "serviceLineNumber"
W_END_NOW = "endNow"
W_REJECT_REASON = "rejectReason"
W_CUSTOM_PLAN = "customPlanId"
W_PRODUCT = "productReferenceId"
W_DATA_BLOCKS = "dataBlockProducts"
W_NAME = "Name"  # capitalised on the page; "name" is accepted too (ASSUMED)
W_ADDRESS = "addressReferenceId"
W_TERMINALS = "userTerminalIds"  # typed "String" on the page, described as plural: a list or one id
W_EMAILS = "emailIds"
W_TRACKING_ID = "trackingId"
TR_STATUS, TR_PROGRESS, TR_UPDATED = "status", "progress", "lastUpdated"
# tracking status words: ASSUMED from "whether the request is pending, in progress, or completed"
TRACKING_STATUSES = ("pending", "in_progress", "completed", "failed")
