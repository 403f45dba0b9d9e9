"""Issue 14 item 2: PDFs read in reading order with tables as markdown, running headers/footers and page
numbers removed, table cells scored against the ICDAR 2013 ground truth; encrypted, malformed and scanned
PDFs quarantined with their reasons through `huijin curate run fin_web -i DIR`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from catalogs import Store
from curation.pdf import PdfProblem, clean_table, read_pdf, table_markdown

ROOT = Path(__file__).resolve().parent.parent


def encrypted_pdf(path: Path) -> Path:
    """A one-page PDF whose standard security handler needs a password (hand-written: no PDF writer here)."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            "<< /Length 0 >>\nstream\n\nendstream",
            "<< /Filter /Standard /V 1 /R 2 /O <" + "41" * 32 + "> /U <" + "42" * 32 + "> /P -44 >>"]
    out, offs = b"%PDF-1.4\n", []
    for i, o in enumerate(objs, 1):
        offs.append(len(out))
        out += f"{i} 0 obj\n{o}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offs)
    out += (f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R /Encrypt 5 0 R /ID [<{'01' * 16}> <{'01' * 16}>] >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    path.write_bytes(out)
    return path


def scanned_pdf(path: Path) -> Path:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (600, 800), "white")
    ImageDraw.Draw(im).text((50, 50), "Scanned annual report 2023", fill="black")
    im.save(path, "PDF")
    return path


@pytest.fixture(scope="module")
def icdar(shared_data) -> Path:
    return shared_data / "pdf_tables" / "icdar2013_eu"


def test_tables_as_markdown_with_their_cells_scored_against_icdar(icdar):
    sys.path.insert(0, str(ROOT / "bench"))
    import pdf as bench

    r = read_pdf(str(icdar / "eu-003.pdf"))  # IAS 39 / IFRS 7 reclassifications: three ruled tables on one page
    assert r.pages == 1 and r.tables == 3 and not r.scanned_pages
    assert "| 0 reclassifications | 52 | 52% | 14 | 64% |" in r.text and "| Total | 100 |  | 22 |  |" in r.text
    # reading order: each heading right before its table, the tables in page order
    assert r.text.index("Number of member states where financial") < r.text.index("| Number of member states in") \
        < r.text.index("Number of financial companies that applied") < r.text.index("| 0 reclassifications") \
        < r.text.index("Reclassifications by categories")
    s = bench.summarize([bench.score_file(icdar / "eu-003.pdf"), bench.score_file(icdar / "eu-010.pdf")])
    ours, plain = s["huijin"], s["pdfplumber_plain"]
    assert ours["cell_recall"] >= 0.9 and ours["adjacency_f1"] >= 0.85 and ours["cell_text_present"] >= 0.98
    assert ours["rows_in_one_line"] > plain["rows_in_one_line"] and ours["cell_text_present"] > plain["cell_text_present"]


def test_running_headers_footers_and_page_numbers_removed(icdar):
    r = read_pdf(str(icdar / "eu-022.pdf"))  # 3 pages: a running title and page numbers 50-52
    assert sorted(r.removed_lines) == ["50", "51", "52", "Healthy Students Healthy Lives",
                                       "Healthy Students Healthy Lives"]
    assert "Healthy Students Healthy Lives" not in r.text and r.text.strip()


def test_table_cleaning():
    grid = clean_table([["", None, "Revenue", None], [None, None, None, None], ["2023", None, "1 | 2", None]])
    assert grid == [["", "Revenue"], ["2023", "1 | 2"]]
    assert table_markdown(grid) == "|  | Revenue |\n|---|---|\n| 2023 | 1 \\| 2 |"


def test_bad_pdfs_are_problems_never_crashes(tmp_path, icdar):
    broken, cut = tmp_path / "broken.pdf", tmp_path / "cut.pdf"
    broken.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R\n")
    cut.write_bytes((icdar / "eu-003.pdf").read_bytes()[:3000])  # the page tree survives, the content does not
    cases = {encrypted_pdf(tmp_path / "enc.pdf"): "encrypted_pdf", scanned_pdf(tmp_path / "scan.pdf"): "scanned_pdf",
             broken: "malformed_pdf", cut: "empty_pdf"}
    for path, reason in cases.items():
        with pytest.raises(PdfProblem) as e:
            read_pdf(str(path))
        assert e.value.reason == reason


def test_pdf_folder_through_curate_run_fin_web(tmp_path, icdar, shared_data):
    """`huijin curate run fin_web -i DIR`: tables kept in the version; bad PDFs and scanned pages quarantined."""
    import pypdfium2 as pdfium
    from typer.testing import CliRunner

    from huijin.cli import app

    d = tmp_path / "reports"
    d.mkdir()
    shutil.copy(icdar / "eu-003.pdf", d / "ias39.pdf")
    shutil.copy(shared_data / "pdf_tables" / "frx_2012_disclosure.pdf", d / "disclosure.pdf")
    encrypted_pdf(d / "locked.pdf")
    scanned_pdf(d / "scan.pdf")
    (d / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R\n")
    mixed = pdfium.PdfDocument.new()  # two text pages and one scanned page in one report
    mixed.import_pages(pdfium.PdfDocument(str(icdar / "eu-010.pdf")))
    mixed.import_pages(pdfium.PdfDocument(str(d / "scan.pdf")))
    mixed.save(str(d / "mixed.pdf"))
    n_mixed = len(pdfium.PdfDocument(str(d / "mixed.pdf")))

    r = CliRunner().invoke(app, ["curate", "run", "fin_web", "-i", str(d), "--store", str(tmp_path / "s"), "--json"])
    assert r.exit_code == 0, r.output
    s = Store.open(tmp_path / "s")
    m = s.resolve("fin-web@1")
    assert m.inputs == m.rows + sum(m.drops.values()) + sum(m.quarantined.values())
    q = {(Path(x["file"]).name, x["offset"]): x["reason"] for x in s.read_quarantine(m).to_pylist()}
    assert q[("locked.pdf", 0)].startswith("encrypted_pdf") and q[("scan.pdf", 0)].startswith("scanned_pdf")
    assert q[("broken.pdf", 0)].startswith("malformed_pdf")
    assert q[("mixed.pdf", n_mixed)].startswith("scanned_page")  # the last page of the mixed report
    texts = [x["text"] for x in s.read_table(m).to_pylist()]
    assert any("| 0 reclassifications | 52 | 52% | 14 | 64% |" in t for t in texts)  # the IAS 39 report's table
    assert any("Technical assistance financed by ISPA" in t for t in texts)  # the text pages of the mixed report
    assert m.rows == 2 and m.quarantined == {"encrypted_pdf": 1, "scanned_pdf": 1, "malformed_pdf": 1,
                                             "scanned_page": 1}
    # the one-page disclosure is a table with ~10 words of prose: fin_web's Gopher rule (tables set aside) drops
    # it as a short document, and the dropped sample kept with the version shows its extracted table
    from curation.tracer import drops

    assert m.drops == {"gopher_quality:gopher_short_doc": 1}
    (sample,) = drops(s, m.ref)
    assert Path(sample["file"]).name == "disclosure.pdf"
    assert "| AALAEI, BEHZAD |  | HIGHLAND, IN | MEALS | $51.24 |" in sample["text"]
