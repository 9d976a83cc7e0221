from tests import factories
from tests.people import person


def test_web_signup_is_stored(lambdas):
    status, body = lambdas.post("web", factories.web(person(1)))
    assert status == 200, body
    assert body["results"][0]["status"] == "stored"
