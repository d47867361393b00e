"""The Starlink Public API V2 response shapes the simulator must serve, written out from the
provider's OpenAPI document (DataUsageBillingCycleV2 and friends) as strict pydantic models:
unknown keys, missing keys and wrong types all fail, so a simulator response that strays from
the published schema fails a test. Only the schemas the exporter reads for billing are here.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr

Number = StrictFloat | StrictInt


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class DataUsageDailyV2(Shape):
    date: datetime
    priorityGB: Number
    optInPriorityGB: Number
    standardGB: Number
    nonBillableGB: Number


class DataUsageOverageLine(Shape):
    restricted: StrictInt  # DataBucketType 0-10
    unrestricted: StrictInt
    pricePerGB: Number
    usageLimitGB: Number
    overageAmountGB: Number
    consumedAmountGB: Number
    overagePrice: Number
    productId: StrictStr
    dataOverageType: StrictInt  # DataOverageType 0-3
    activeFrom: datetime | None


class DataBlockServiceLineUsage(Shape):
    serviceLineNumber: StrictStr
    consumedAmountGB: Number


class DataBlockMonthly(Shape):
    startDate: datetime
    endDate: datetime
    serviceLineUsage: list[DataBlockServiceLineUsage]


class DataBlockUsagePublicResponse(Shape):
    dataBlockId: StrictStr
    startDateUtc: datetime
    expirationDateUtc: datetime
    totalAmountGB: Number
    consumedAmountGB: Number
    perBlockAmountGB: Number
    dataBlockType: StrictStr
    productId: StrictStr
    blocksCount: StrictInt
    perBlockPrice: Number
    totalPrice: Number
    isoCurrencyCode: StrictStr
    serviceLineUsage: list[DataBlockServiceLineUsage]
    monthlyUsage: list[DataBlockMonthly]


class DataPoolUsagePublicResponse(Shape):
    accountNumber: StrictStr
    dataPoolId: StrictStr
    lastUpdated: datetime
    dataBlocks: list[DataBlockUsagePublicResponse]


class DataUsageBillingCycleV2(Shape):
    startDate: datetime
    endDate: datetime
    dailyDataUsage: list[DataUsageDailyV2]
    overageLines: list[DataUsageOverageLine]
    dataPoolUsage: list[DataPoolUsagePublicResponse]
    totalPriorityGB: Number
    totalStandardGB: Number
    totalOptInPriorityGB: Number
    totalNonBillableGB: Number


class DataServicePlan(Shape):
    isoCurrencyCode: StrictStr | None
    isMobilePlan: StrictBool
    activeFrom: datetime | None
    subscriptionActiveFrom: datetime | None
    subscriptionEndDate: datetime | None
    overageName: StrictStr | None
    overageDescription: StrictStr | None
    isOptedIntoOverage: StrictBool
    overageLineDeactivatedDate: datetime | None
    overageLine: DataUsageOverageLine | None
    dataPoolUsage: DataPoolUsagePublicResponse | None
    productId: StrictStr
    usageLimitGB: Number | None
    dataCategoryMapping: dict[str, object]


class ServiceLineDataUsageForBillingCycles(Shape):
    accountNumber: StrictStr
    serviceLineNumber: StrictStr
    startDate: datetime
    endDate: datetime
    billingCycles: list[DataUsageBillingCycleV2]
    servicePlan: DataServicePlan
    lastUpdated: datetime | None


class DataBlockResponseV2(Shape):
    productId: StrictStr
    startDate: datetime
    endDate: datetime
    isPrepaid: StrictBool
    blocksCount: StrictInt
    type: StrictStr
    dataAmountGB: Number


class DataPoolResponseV2(Shape):
    dataPoolId: StrictStr
    nickname: StrictStr | None
    automaticTopUpEnabled: StrictBool
    restricted: StrictBool
    dataProductType: StrictStr
    dataBlocks: list[DataBlockResponseV2]
    productId: StrictStr


class DataBlockUsageResponseV2(Shape):
    startDate: datetime
    endDate: datetime
    totalAmountGB: Number
    consumedAmountGB: Number
    perBlockAmountGB: Number
    dataBlockType: StrictStr
    productId: StrictStr
    blocksCount: StrictInt
    serviceLineUsage: list[DataBlockServiceLineUsage]
    monthlyUsage: list[DataBlockMonthly]


class DataPoolUsageResponseV2(Shape):
    dataPoolId: StrictStr
    dataBlocks: list[DataBlockUsageResponseV2]


class DataBlockSummaryResponse(Shape):
    productId: StrictStr | None
    startDate: datetime
    expirationDate: datetime
    count: StrictInt
    dataAmount: Number
    dataUnitType: StrictStr | None


class ServiceLineDataBlocksSummaryResponse(Shape):
    recurringBlocksCurrentBillingCycle: list[DataBlockSummaryResponse] | None
    recurringBlocksNextBillingCycle: list[DataBlockSummaryResponse] | None
    delayedProductRecurringBlocksNextCycle: list[DataBlockSummaryResponse] | None
    topUpBlocksOptInPurchase: list[DataBlockSummaryResponse] | None
    topUpBlocksOneTimePurchase: list[DataBlockSummaryResponse] | None


class ServiceLineResponse(Shape):
    addressReferenceId: StrictStr
    serviceLineNumber: StrictStr
    nickname: StrictStr | None
    productReferenceId: StrictStr
    delayedProductId: StrictStr | None
    optInProductId: StrictStr | None
    startDate: datetime | None
    endDate: datetime | None
    publicIp: StrictBool
    active: StrictBool
    aviationMetadata: dict[str, object] | None
    dataBlocks: ServiceLineDataBlocksSummaryResponse


class CurrencyBalanceResponse(Shape):
    currency: StrictStr
    dueAmount: Number


class AccountBalanceResponse(Shape):
    balances: list[CurrencyBalanceResponse]


DATA_BLOCK_TYPES = {"IncludedWithBaseSubscription", "RecurringPerBillingCycle", "Overage", "OneTimePurchase"}
DATA_PRODUCT_TYPES = {"Ocean", "Land", "Aviation"}
