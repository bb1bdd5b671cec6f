#!/usr/bin/env python3
"""Synthetic export documents for the import benchmark (benches/import.sh).

    gen_exports.py genesys N OUT.json   # {"conversations": [...]}, Genesys details shape
    gen_exports.py koreai N OUT.json    # {"data": [...]}, Kore.ai call-details shape

Deterministic (seeded); ids are unique per conversation. The shapes follow the public
examples: a customer -> ivr/acd -> agent voice, chat or email conversation with alert,
interact, hold and wrap-up segments, participant attributes, and for email a workflow
auto-reply; Kore.ai records with a queue entry, a responding agent with after-call work,
sometimes a non-responding agent first, dispositions and tags.
"""
import json
import random
import sys
from datetime import datetime, timedelta, timezone

BASE = datetime(2026, 10, 1, tzinfo=timezone.utc)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def local(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S")


def seg(start, end, kind, **extra):
    s = {"segmentStart": iso(start), "segmentEnd": iso(end), "segmentType": kind, "conference": False}
    s.update(extra)
    return s


def genesys(n, rng):
    out = []
    for i in range(n):
        media = rng.choice(["voice", "voice", "chat", "email"])
        start = BASE + timedelta(seconds=i * 37 + rng.randint(0, 30))
        cid = f"c{i:08d}-0000-4000-8000-{rng.getrandbits(48):012x}"
        queue = f"q-{rng.randint(1, 12):02d}"
        agent = f"u-{rng.randint(1, 200):04d}"
        t_ivr = start + timedelta(seconds=rng.randint(5, 60))
        t_alert = t_ivr + timedelta(seconds=rng.randint(2, 300))
        t_answer = t_alert + timedelta(seconds=rng.randint(2, 20))
        t_hold = t_answer + timedelta(seconds=rng.randint(30, 400))
        t_unhold = t_hold + timedelta(seconds=rng.randint(10, 90))
        t_end = t_unhold + timedelta(seconds=rng.randint(20, 300))
        t_wrap = t_end + timedelta(seconds=rng.randint(5, 60))
        direction = "inbound"
        participants = [
            {
                "participantId": f"{cid}-p0",
                "participantName": f"Customer {i}",
                "purpose": "customer",
                "attributes": {"Topic": rng.choice(["billing", "order", "fault"]), "Language": "en"},
                "sessions": [{
                    "mediaType": media, "sessionId": f"{cid}-s0", "direction": direction,
                    "ani": "tel:+1555" + f"{i % 10000000:07d}", "dnis": "tel:+18005550100",
                    "segments": [seg(start, t_end, "interact", disconnectType="peer")],
                    "metrics": [{"name": "nConnected", "value": 1, "emitDate": iso(start)}],
                }],
            },
            {
                "participantId": f"{cid}-p1", "participantName": "Main IVR", "purpose": "ivr",
                "sessions": [{
                    "mediaType": media, "sessionId": f"{cid}-s1", "direction": direction,
                    "flowId": "flow-main", "flowName": "Main IVR",
                    "segments": [seg(start, t_ivr, "interact", disconnectType="transfer")],
                }],
            },
            {
                "participantId": f"{cid}-p2", "participantName": "Queue", "purpose": "acd",
                "sessions": [{
                    "mediaType": media, "sessionId": f"{cid}-s2", "direction": direction,
                    "segments": [seg(t_ivr, t_answer, "interact", queueId=queue, disconnectType="transfer")],
                    "metrics": [{"name": "nOffered", "value": 1, "emitDate": iso(t_ivr)},
                                {"name": "tAcd", "value": int((t_answer - t_ivr).total_seconds() * 1000), "emitDate": iso(t_answer)}],
                }],
            },
            {
                "participantId": f"{cid}-p3", "userId": agent, "purpose": "agent",
                "sessions": [{
                    "mediaType": media, "sessionId": f"{cid}-s3", "direction": direction,
                    "segments": [
                        seg(t_alert, t_answer, "alert", queueId=queue),
                        seg(t_answer, t_hold, "interact", queueId=queue),
                        seg(t_hold, t_unhold, "hold", queueId=queue),
                        seg(t_unhold, t_end, "interact", queueId=queue, disconnectType="client"),
                        seg(t_end, t_wrap, "wrapup", queueId=queue,
                            wrapUpCode=rng.choice(["Resolved", "Follow-up", "Escalated"]),
                            wrapUpNote="synthetic note"),
                    ],
                }],
            },
        ]
        if media == "email":
            participants.append({
                "participantId": f"{cid}-p4", "participantName": "Auto reply", "purpose": "workflow",
                "sessions": [{
                    "mediaType": "email", "sessionId": f"{cid}-s4", "direction": "outbound",
                    "flowId": "flow-ack", "flowName": "Acknowledge",
                    "segments": [seg(t_answer + timedelta(seconds=3), t_answer + timedelta(seconds=4), "interact", disconnectType="endpoint")],
                }],
            })
        out.append({
            "conversationId": cid,
            "conversationStart": iso(start),
            "conversationEnd": iso(t_wrap) if rng.random() < 0.8 else None,
            "originatingDirection": direction,
            "divisionIds": ["d-1"],
            "participants": participants,
        })
        if out[-1]["conversationEnd"] is None:
            del out[-1]["conversationEnd"]
    return {"conversations": out, "totalHits": n}


def koreai(n, rng):
    out = []
    for i in range(n):
        start = BASE + timedelta(seconds=i * 37 + rng.randint(0, 30))
        enter = start + timedelta(seconds=rng.randint(5, 60))
        assigned = enter + timedelta(seconds=rng.randint(2, 200))
        accepted = assigned + timedelta(seconds=rng.randint(1, 15))
        first = accepted + timedelta(seconds=rng.randint(0, 20))
        end = first + timedelta(seconds=rng.randint(30, 600))
        acw = rng.randint(0, 60)
        queue = {"destinationType": "QueueEntry", "queueId": f"qu-{rng.randint(1, 12):02d}",
                 "queueName": "Queue", "CallbackOpted": False, "EnterTime": local(enter)}
        agent = {"agentId": f"u-{rng.randint(1, 200):04d}", "destinationType": "AgentSegment",
                 "status": "Answered", "firstResponseTime": local(first),
                 "firstResponseDuration": int((first - accepted).total_seconds()),
                 "interactionEndTime": local(end), "interactionDuration": int((end - accepted).total_seconds()),
                 "afterCallWorkDuration": acw, "afterCallWorkEndTime": local(end + timedelta(seconds=acw)),
                 "ConsultingAgents": [], "JoinedUsers": [], "name": "Agent", "email": "agent@example.com",
                 "acceptedTime": local(accepted), "assignedAt": local(assigned)}
        if rng.random() < 0.2:
            queue["nonRespondingAgents"] = [{"agentId": f"u-{rng.randint(1, 200):04d}", "destinationType": "AgentSegment",
                                             "assignedAt": local(enter + timedelta(seconds=1)),
                                             "nonResponseEvent": "Supervisor Reassigned", "name": "Agent", "email": "x@example.com"}]
        queue["respondingAgent"] = agent
        out.append({
            "conversationId": f"c-{i:08d}-{rng.getrandbits(32):08x}",
            "sessionId": f"{rng.getrandbits(96):024x}",
            "channel": rng.choice(["Voice", "Voice", "Web/Mobile Client"]),
            "isVoicemail": "NO", "Direction": "Inbound", "finalStatus": "CLOSED", "smartStatus": "CLOSED",
            "reason": "", "disconnectingEvent": rng.choice(["Agent Hangup", "Customer Hangup", "Agent Closed"]),
            "botId": "st-bot", "dispositions": [rng.choice(["Resolved", "Callback"])], "dispositionRemarks": ["synthetic"],
            "metaInfo": {"caller": "+1555" + f"{i % 10000000:07d}", "callee": "+18005550100"},
            "sessionStartTime": local(start), "sessionEndTime": local(end),
            "userId": f"u-cust-{i}", "destinations": [queue],
            "userleveltags": [{"name": "segment", "value": "retail"}], "sessionleveltags": [],
        })
    return {"numResults": n, "data": out}


def main():
    fmt, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = random.Random(7)
    doc = genesys(n, rng) if fmt == "genesys" else koreai(n, rng)
    with open(path, "w") as f:
        json.dump(doc, f)


if __name__ == "__main__":
    main()
