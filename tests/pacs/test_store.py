"""C-STORE of result files (``spinerad.pacs.store``) to a peer that takes only some transfer syntaxes."""

import pydicom
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE, evt

from spinerad.pacs.store import StoreTarget, store_files

SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.34"


def _file(path):
    ds = pydicom.Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = SR_CLASS, generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName = "SR", "Test^Store"
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return ds


def _scp(syntax, received):
    ae = AE(ae_title="PEER")
    ae.add_supported_context(SR_CLASS, [syntax])

    def on_store(event):
        received.append((event.context.transfer_syntax, event.dataset))
        return 0x0000

    return ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])


def test_files_are_sent_as_stored_or_converted_when_the_peer_wants_another_syntax(tmp_path):
    """A peer taking the file's syntax gets its bytes; one taking only implicit VR, a converted dataset."""
    sent = _file(tmp_path / "sr.dcm")
    for syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        received = []
        server = _scp(syntax, received)
        try:
            store_files(
                StoreTarget("PEER", "127.0.0.1", server.server_address[1]), [tmp_path / "sr.dcm"], "SPINERAD"
            )
        finally:
            server.shutdown()
        ((used, ds),) = received
        assert used == syntax
        assert ds.SOPInstanceUID == sent.SOPInstanceUID and ds.PatientName == "Test^Store"
