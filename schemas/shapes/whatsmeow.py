"""Evolution's (Baileys') events as whatsmeow's, the Go library VZaps is built on.

whatsmeow's events are Go structs marshalled by ``encoding/json``: untagged fields keep their Go
names (``Info``, ``Chat``, ``IsFromMe``), JIDs are strings, times RFC 3339. The WhatsApp message
inside is the same protobuf Baileys reads, but its JSON keys are the ``.proto`` names whatsmeow
generates, which spell initialisms in capitals (``URL``, ``fileSHA256``, ``stanzaID``) where
Baileys writes ``url``, ``fileSha256``, ``stanzaId``; and its bytes are base64 strings where
Evolution writes ``{"0": 12, ...}``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from schemas.shapes.baileys import (
    EVOLUTION_FIELDS,
    TEXT,
    VIEW_ONCE,
    Content,
    Key,
    as_bytes,
    content_of,
    key_of,
    obj,
    text,
)

# Every field name of whatsmeow's message protobufs (waE2E, waCommon) that is not the
# lower-camel spelling Baileys uses; the two spellings agree once lower-cased.
WHATSMEOW_NAMES: Final = """
    ID JID JPEGThumbnail PTT URL actionURL adPreviewURL agmID artworkEncSHA256 artworkSHA256
    attachmentFileEncSHA256 attachmentFileSHA256 attachmentJPEGThumbnail bizJID botJID
    businessIsOpenSnapshotMS businessJID businessOwnerJID buttonID buttonParamsJSON campaignID
    chatJID chunkNotificationID colorSchemeID consentedUsersURL contactJID coveredRequestIDs
    createdAtMS createdTimestampMS derivedContentStartTimeInMS destinationJID encIV eventID
    experimentGroupID expiryTimestampMS expressPathURL extraJSON fbExperimentID fileEncSHA256
    fileSHA256 firstImageID flowID galaxyFlowDownloadRequestID groupID groupJID
    initiatorDeviceJID instanceID invokerJID keyID keyIDs lastEditStanzaID mediaKeyTimestampMS
    mediaURL mentionedJID messageParamsJSON metadataURL midQualityFileEncSHA256
    midQualityFileSHA256 motionPhotoPresentationOffsetMS musicContentMediaID
    musicSongStartTimeInMS newsletterJID nonJIDMentions oldestMsgID oldestMsgTimestampMS orderID
    orderRequestMessageID originalImageURL originalMessageID originalStatusID originalURL
    overlapDurationInMS paramsJSON parentGroupJID participantJID payeeJID payerJID
    peerDataRequestSessionID posterStatusID primaryDurationMS productID profilePictureURL qrURL
    rawID referralID registrationTraceID reminderID remoteJID remoteKeyID requestID
    requestURLPreview requesterJID retailerID revealKeyID rowID scheduledTimestampMS
    selectedButtonID selectedID selectedRowID sellerJID senderNotificationTimestampMS
    senderTimestampMS serverMessageID serverQuestionID sessionID settingTimestampMS signedURL
    smbClientCampaignID smbServerCampaignID songID sourceID sourceURL splitID stanzaID staticURL
    stickerPackID stickerSentTS stockImageID tapURL templateID threadID thumbnailEncSHA256
    thumbnailImageURL thumbnailSHA256 thumbnailURL timestampMS unconsentedUsersURL userJIDString
    videoContentURL wtwaWebsiteURL
""".split()  # noqa: SIM905 (a block of words, read as the list it is)
_RENAMED: Final = {name.lower(): name for name in WHATSMEOW_NAMES}
NO_JID: Final = ""
NO_TIME: Final = "0001-01-01T00:00:00Z"  # Go's zero time, as whatsmeow sends an unknown one


def message(value: Any) -> Any:
    """A Baileys message object (or any part of it) with whatsmeow's keys and bytes."""
    if isinstance(value, dict):
        packed = as_bytes(value) if all(k.isdigit() for k in value) else None
        if packed is not None:
            return packed
        return {
            _RENAMED.get(k.lower().replace("_", ""), k): message(v)
            for k, v in value.items()
            if k not in EVOLUTION_FIELDS
        }
    if isinstance(value, list):
        return [message(v) for v in value]
    return value


def source(key: Key, own: str) -> dict[str, Any]:
    """whatsmeow's ``MessageSource``: who sent a message, and where."""
    return {
        "Chat": key.chat,
        "Sender": key.sender(own),
        "IsFromMe": key.from_me,
        "IsGroup": key.group,
        "AddressingMode": key.addressing,
        "SenderAlt": key.sender_alt(),
        "RecipientAlt": key.recipient_alt(),
        "BroadcastListOwner": NO_JID,
        "BroadcastRecipients": None,
    }


def message_event(
    data: Any, own: str, at: str, *, edit: bool = False, content: Content | None = None
) -> dict[str, Any]:
    """``events.Message`` of a ``messages.upsert``/``send.message`` (or, with ``edit``, the
    protocol message of a ``messages.edited``); ``content``: the message's, when the caller
    has opened it already."""
    body = obj(data)
    key = key_of(data)
    raw = body.get("message") if not edit else {"protocolMessage": body}
    if content is None or edit:
        content = content_of(raw)
    media = content.media
    kind = (
        "media"
        if media
        else "text"
        if content.kind in TEXT
        else content.kind.removesuffix("Message")
    )
    info = {
        **source(key, own),
        "ID": key.id,
        "ServerID": 0,
        "Type": "text" if edit else kind,
        "PushName": text(body.get("pushName")) or "",
        "Timestamp": at,
        "Category": "",
        "Multicast": False,
        "MediaType": media or "",
        "Edit": "1" if edit else "",
    }
    translated = message(raw) if isinstance(raw, dict) else None
    return {
        "Info": info,
        "Message": translated,
        "IsEphemeral": "ephemeralMessage" in content.wrappers,
        "IsViewOnce": bool(content.wrappers & VIEW_ONCE),
        "IsDocumentWithCaption": "documentWithCaptionMessage" in content.wrappers,
        "IsEdit": edit,
        "RawMessage": translated,
    }


def receipt_event(data: Any, own: str, at: str, kind: str) -> dict[str, Any]:
    """``events.Receipt`` of a ``messages.update``: ``kind`` is whatsmeow's receipt type
    (``""`` delivered, ``read``, ``read-self``...)."""
    key = key_of(data)
    # A receipt comes from whoever read the message: the other side of the message's key.
    reader = replace(key, from_me=not key.from_me)
    return {
        **source(reader, own),
        "MessageIDs": [key.id] if key.id else [],
        "Timestamp": at,
        "Type": kind,
        "MessageSender": (own if key.from_me else key.participant) if key.group else NO_JID,
    }
