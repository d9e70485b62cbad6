"""The helpers that turn a refusal's message into facts a person can act on (the command
line's ``--errors`` fields): the refused value, the allowed options, the problems of a body."""

from __future__ import annotations

from asyncbatch._refusals import Problem, allowed_options, problems_in, refused_value

# HubSpot writes the options list in two forms: plain (gregorspan/csc-frodx #21) and protobuf
# text (gitcoinco/code_fund_ads #479), whose values may hold commas.
PLAIN = "expert was not one of the allowed options: [beginner, intermediate, advanced]"
PROTO = (
    'Less than 5,000 (does not qualify) was not one of the allowed options: [label: "Less '
    'than 5,000"\nvalue: "Less than 5,000"\ndisplay_order: -1\nhidden: false\n, label: '
    '"5,000 - 10,000"\nvalue: "5,000 - 10,000"\ndisplay_order: 0\n, label: "Say \\"hi\\""\n'
    'value: "say \\"hi\\""\n]'
)


def test_allowed_options_plain_and_protobuf_forms() -> None:
    assert allowed_options(PLAIN) == ("beginner", "intermediate", "advanced")
    assert allowed_options(PROTO) == ("Less than 5,000", "5,000 - 10,000", 'say "hi"')
    assert allowed_options("12.5 was not a valid long.") == ()


def test_refused_value_of_each_message_form() -> None:
    assert refused_value(PLAIN) == "expert"
    assert refused_value(PROTO) == "Less than 5,000 (does not qualify)"
    assert refused_value("12.5 was not a valid long.") == "12.5"
    assert refused_value("2027-13-01 was not a valid date.") == "2027-13-01"
    assert refused_value('Property "x" does not exist') is None


def test_problems_in_a_body_with_embedded_results_and_details() -> None:
    body = {
        "category": "VALIDATION_ERROR",
        "message": 'Property values were not valid: [{"isValid":false,"message":"'
        + PLAIN
        + '","error":"INVALID_OPTION","name":"level"}]',
        "errors": [
            {"message": PLAIN, "code": "INVALID_OPTION", "context": {"propertyName": ["level"]}}
        ],
    }
    assert problems_in(body) == (Problem("level", "INVALID_OPTION", "expert", PLAIN),)
    assert problems_in({"message": "no property named here"}) == ()
