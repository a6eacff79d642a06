"""What each recommended action means, in plain words, with the contacts where they apply."""

from __future__ import annotations

ACTION_TEXT = {
    "call_police_999": "Call the police on 999 now, then children's services: the child is at "
    "immediate risk or may go missing before they are safe.",
    "report_child_at_risk": "Report the child at risk to the local authority's children's "
    "services (Part 7, Social Services and Well-being (Wales) Act 2014) for {la}.",
    "share_with_agencies": "Share this with every agency involved, so each sees the whole picture.",
    "nrm_referral": "Refer the child to the National Referral Mechanism through a first responder "
    "organisation (police, local authority, Home Office, or a listed charity). A child's referral "
    "needs no consent and does not replace the safeguarding referral.",
    "icta_referral": "Refer the child to the Independent Child Trafficking Guardian service "
    "(Barnardo's), 0800 043 4303, 24 hours a day.",
    "home_office_duty_to_notify": "Police and local authorities: the Home Office duty to notify "
    "applies (Modern Slavery Act 2015 s52); for a child, the NRM referral meets it.",
    "plan_transition_at_18": "Plan now for the child turning 18: immigration status, continued "
    "protection from traffickers, and the risk of re-trafficking.",
    "missing_education_enquiries": "The local authority's children-missing-education team "
    "makes its enquiries to find the child and secure their education.",
}


def describe(action: str, local_authority: str) -> str:
    return ACTION_TEXT.get(action, action).format(la=local_authority)
