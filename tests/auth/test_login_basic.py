from tests.factories import login, make_user


def test_login_and_home(client):
    user = make_user("admin")
    response = login(client, user)
    assert response.status_code == 302
    page = client.get("/")
    assert page.status_code == 200
    assert user.name in page.get_data(as_text=True)


def test_wrong_password(client):
    user = make_user("admin")
    response = login(client, user, password="nope-nope-1")
    assert response.status_code == 200
    assert client.get("/").status_code == 302
