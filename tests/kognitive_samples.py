"""The sample responses of the Kognitive OrbitPlans API page (seed 001), as the page shows them.

The products sample on the page lacks its opening brace and two closing ones; they are restored.
Everything else is verbatim, including the getAddress placeholders ("string", 0).
"""

from __future__ import annotations

from typing import Any

PRODUCTS: dict[str, Any] = {
    "success": True,
    "message": "",
    "data": [
        {
            "account_number": "ACC-2239913-53353-13",
            "account_name": "Main organization",
            "region_code": "GB",
            "is_pooled": False,
            "products": [
                {
                    "product_reference_id": "gb-enterprise-global-priority-terminal-access-fee-usd",
                    "name": "Global Priority Terminal Access Charge",
                    "alias": "",
                    "price": 150,
                    "iso_currency_code": "USD",
                    "usage_limit_gb": None,
                    "active": True,
                    "data_blocks": [
                        {
                            "account_number": "ACC-2239913-53353-13",
                            "product_id": "gb-enterprise-global-priority-500gb-data-block-usd",
                            "product_reference_id": "gb-enterprise-global-priority-terminal-access-fee-usd",
                            "data_amount": 500,
                            "data_unit": "GB",
                            "price": 500,
                            "iso_currency_code": "USD",
                            "active": True,
                        },
                        {
                            "account_number": "ACC-2239913-53353-13",
                            "product_id": "gb-enterprise-global-priority-50gb-data-block-usd",
                            "product_reference_id": "gb-enterprise-global-priority-terminal-access-fee-usd",
                            "data_amount": 50,
                            "data_unit": "GB",
                            "price": 100,
                            "iso_currency_code": "USD",
                            "active": True,
                        },
                    ],
                }
            ],
        }
    ],
}

BILLING_USAGE: dict[str, Any] = {
    "success": True,
    "data": {
        "results": [
            {
                "accountNumber": "ACC-2239913-53353-13",
                "serviceLineNumber": "AST-1935975-91695-67",
                "startDate": "2025-11-01",
                "endDate": "2025-12-01",
                "billingCycles": [
                    {
                        "dailyDataUsage": [
                            {
                                "date": "2025-11-06T00:00:00.000Z",
                                "priorityGB": "0.00",
                                "optInPriorityGB": "0.00",
                                "standardGB": "0.00",
                                "nonBillableGB": "0.00",
                            }
                        ],
                        "totalPriorityGB": "0.00",
                        "totalOptInPriorityGB": "0.00",
                        "totalStandardGB": "0.00",
                        "totalNonBillableGB": "0.00",
                    }
                ],
            }
        ]
    },
}

SERVICE_LINES: dict[str, Any] = {
    "success": True,
    "data": [
        {
            "service_line_number": "DEV-SL-1113999-92299-13",
            "nickname": "Service line name",
            "account_number": "ACC-2239913-53353-13",
            "account_name": "Main Organization",
            "subscription_status": "resumed",
            "userterminaldetails": [
                {"kitSerialNumber": "KITP00304243", "userTerminalId": "01000000-00000000-00d310eb"}
            ],
        }
    ],
}

TERMINAL_STATUS: dict[str, Any] = {
    "success": True,
    "page": 1,
    "limit": 25,
    "total": "4",
    "totalPages": 1,
    "data": [
        {
            "account_number": "ACC-2239913-53353-13",
            "account_name": "Main Organization",
            "userTerminals": [
                {
                    "kit_serial_number": "KITP00038369",
                    "user_terminal_id": "01000000-00000000-001a3692",
                    "service_line_number": "<NOT_CONFIGURED>",
                    "terminal_status": False,
                    "is_terminal_online": False,
                },
                {
                    "kit_serial_number": "KITP00113663",
                    "user_terminal_id": "01000000-00000000-00612499",
                    "service_line_number": "<NOT_CONFIGURED>",
                    "terminal_status": True,
                    "is_terminal_online": False,
                },
            ],
        }
    ],
}

ADDRESS: dict[str, Any] = {
    "success": True,
    "data": [
        {
            "accountNumber": "string",
            "accountName": "string",
            "addresses": [
                {
                    "address_reference_id": "string",
                    "address_lines": ["string"],
                    "locality": "string",
                    "administrative_area": "string",
                    "administrative_area_code": "string",
                    "region": "string",
                    "region_code": "string",
                    "postal_code": "string",
                    "formatted_address": "string",
                    "latitude": 0,
                    "longitude": 0,
                }
            ],
        }
    ],
    "page": 0,
    "limit": 0,
    "total": 0,
    "totalPages": 0,
}
