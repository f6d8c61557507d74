"""Instagram takes JPEG only (issue 10 §7).

Meta, Instagram content publishing (IG User Media reference, image specifications):
"JPEG is the only image format supported. Extended JPEG formats such as MPO and JPS are
not supported."  Instagram cURLs ``image_url`` itself, so the test server reads the file
behind the URL (its ``web`` map stands in for the council's website) and refuses any bytes
that are not JPEG (a JPEG file starts FF D8 FF: ITU-T T.81, SOI marker then a segment).
"""
from __future__ import annotations

import json
import struct

import pytest
from click.testing import CliRunner
from PIL import Image

from bot import cli
from schedule.channels.instagram import InstagramChannel
from schedule.config import ChannelConfig
from schedule.errors import Rejected
from schedule.model import Media
from tests.helpers import make_variant, tiny_png
from tests.servers.graph import IG_USER, TOKEN, Server

BASE = "https://www.example.gov.uk/social"


@pytest.fixture
def instagram(tmp_path, monkeypatch):
    server = Server().start()
    server.web[BASE] = tmp_path / "site"            # the council's website serves content/
    monkeypatch.setenv("CIVICPOST_COUNCIL_INSTAGRAM_ACCESS_TOKEN", TOKEN)
    channel = InstagramChannel(ChannelConfig(name="council_instagram", network="instagram", api_base=server.url,
                                             settings={"ig_user_id": IG_USER, "media_base_url": BASE,
                                                       "container_poll_seconds": 0.01}))
    yield server, channel
    server.stop()


def picture(folder, name: str, mime: str, alt: str = "The new pool, lanes roped off") -> Media:
    path = folder / "media" / name
    return Media(path=path, rel=f"media/{name}", alt=alt, kind="image", mime=mime, size=path.stat().st_size)


def test_a_png_is_sent_as_a_jpeg_copy_with_its_alt_text(instagram, tmp_path):
    server, channel = instagram
    site = tmp_path / "site"
    tiny_png(site / "media" / "pool.png", width=40, height=30)
    variant = make_variant(channel, ["The pool opens on Saturday."], (picture(site, "pool.png", "image/png"),))
    receipt = channel.publish(variant, "k")
    container = server.objects[server.objects[receipt.remote_id]["container"]]
    url = container["image_url"]
    assert url.startswith(BASE + "/media/instagram-jpeg/pool-") and url.endswith(".jpg")
    fetched = site / url[len(BASE) + 1:]
    assert fetched.read_bytes()[:3] == b"\xff\xd8\xff"
    with Image.open(fetched) as jpeg:
        assert (jpeg.format, jpeg.size, jpeg.mode) == ("JPEG", (40, 30), "RGB")
    assert container["alt_text"] == "The new pool, lanes roped off"
    assert (site / "media" / "pool.png").read_bytes()[:4] == b"\x89PNG"      # the original is untouched


def test_the_server_refuses_a_png_as_instagram_does(instagram, tmp_path):
    """Guard for the double itself: a PNG behind the URL is refused (error 36001/2207005)."""
    server, channel = instagram
    tiny_png(tmp_path / "site" / "media" / "pool.png")
    with pytest.raises(Rejected, match="image format is not supported"):
        channel.call("post_object", IG_USER, "media", data={"image_url": f"{BASE}/media/pool.png",
                                                            "caption": "x"})


def test_a_jpeg_is_sent_as_it_is(instagram, tmp_path):
    server, channel = instagram
    path = tmp_path / "site" / "media" / "pool.jpg"
    path.parent.mkdir(parents=True)
    Image.new("RGB", (8, 8), (0, 90, 200)).save(path, "JPEG")
    variant = make_variant(channel, ["The pool opens."], (picture(tmp_path / "site", "pool.jpg", "image/jpeg"),))
    receipt = channel.publish(variant, "k")
    container = server.objects[server.objects[receipt.remote_id]["container"]]
    assert container["image_url"] == f"{BASE}/media/pool.jpg"
    assert not (path.parent / "instagram-jpeg").exists()


def test_transparency_goes_on_white(tmp_path):
    from schedule.jpeg import jpeg_bytes
    import io

    path = tmp_path / "media" / "logo.png"
    path.parent.mkdir(parents=True)
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(path)
    data = jpeg_bytes(Media(path=path, rel="media/logo.png", alt="Logo", kind="image", mime="image/png",
                            size=path.stat().st_size))
    with Image.open(io.BytesIO(data)) as jpeg:
        assert min(jpeg.getpixel((1, 1))) > 245         # white, not black


# ----- validate and preview, through the CLI ------------------------------------------
IG_CONFIG = f"""
[channels.instagram]
network = "instagram"
ig_user_id = "{IG_USER}"
media_base_url = "{BASE}"
"""


def _animated_gif(path) -> None:
    frames = [Image.new("RGB", (4, 4), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


def test_validate_refuses_an_animated_gif_for_instagram_in_one_line(project):
    project.write_config(channels=IG_CONFIG, default_channels='["instagram"]')
    _animated_gif(project.content / "media" / "wave.gif")
    project.post("wave.md", "id: wave\npublish_at: 2030-01-14T10:00\nmedia: [{path: media/wave.gif, alt: A wave}]")
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate"])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if "animated" in line]
    assert len(lines) == 1 and "content/wave.md:" in lines[0] and "JPEG" in lines[0], result.output
    assert "Traceback" not in result.output


def test_validate_refuses_a_file_that_is_not_really_a_picture(project):
    project.write_config(channels=IG_CONFIG, default_channels='["instagram"]')
    project.write("media/broken.png", b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR")
    project.post("broken.md", "id: broken\npublish_at: 2030-01-14T10:00\n"
                              "media: [{path: media/broken.png, alt: A broken picture}]")
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate"])
    assert result.exit_code == 1 and "cannot be read as a picture" in result.output, result.output


def test_preview_says_a_png_is_sent_as_jpeg_and_validate_accepts_it(project):
    project.write_config(channels=IG_CONFIG, default_channels='["instagram"]')
    project.image("pool.png")
    project.post("pool.md", "id: pool\npublish_at: 2030-01-14T10:00\nmedia: [{path: media/pool.png, alt: The pool}]")
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(project.config_path), "validate"]).exit_code == 0
    result = runner.invoke(cli, ["--config", str(project.config_path), "preview", "--json"])
    (item,) = json.loads(result.stdout)
    (media,) = item["variants"][0]["media"]
    assert media["path"] == "media/pool.png" and media["alt"] == "The pool"
    assert media["sent_as"].startswith("JPEG")
    human = runner.invoke(cli, ["--config", str(project.config_path), "preview"], env={"COLUMNS": "200"})
    assert "media/pool.png -> sent as JPEG" in human.output
    assert not (project.content / "media" / "instagram-jpeg").exists()      # preview writes nothing


def test_the_shipped_example_pictures_validate_for_instagram(project):
    """The shipped example content uses PNG pictures: for Instagram they pass validate and
    preview says they are sent as JPEG."""
    import shutil
    from pathlib import Path

    shipped = Path(__file__).resolve().parent.parent / "content"
    shutil.rmtree(project.content)
    shutil.copytree(shipped, project.content)
    project.write_config(channels=IG_CONFIG, default_channels='["instagram"]')
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "preview", "--json",
                                      str(project.content / "leisure-centre-opening.md")])
    (item,) = json.loads(result.stdout)
    (variant,) = item["variants"]
    (media,) = variant["media"]
    assert media["path"] == "media/leisure-centre-pool.png" and media["sent_as"].startswith("JPEG")
    assert [p for p in variant["problems"] if p["level"] == "error"] == []
